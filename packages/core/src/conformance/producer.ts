/**
 * The producer process the conformance kit starts:
 *   node producer.js <module-url> <export-name> <address-json> <plan-json>
 * It reports on stdout, one JSON object per line. Stdout is only the test's
 * control channel; the messages travel over the transport under test.
 */
import { ChannelError } from "../errors.js";
import type { Address, Sender, Transport } from "../interface.js";
import { ScenarioEncoder } from "../scenario.js";
import { fillPattern, watchLoopGaps, type ProducerPlan } from "./plan.js";

function report(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

function describeError(err: unknown): { code: string; message: string; name: string } {
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  return { code: String(e?.code ?? "UNKNOWN"), message: String(e?.message ?? err), name: err instanceof ChannelError ? "ChannelError" : String(e?.name) };
}

async function main(): Promise<void> {
  const [moduleUrl, exportName, addressJson, planJson] = process.argv.slice(2);
  const mod = (await import(moduleUrl!)) as Record<string, Transport>;
  const transport = mod[exportName!];
  if (!transport) throw new Error(`${moduleUrl} has no export ${exportName}`);
  const address = JSON.parse(addressJson!) as Address;
  const plan = JSON.parse(planJson!) as ProducerPlan;
  if (plan.kind === "late") {
    const started = Date.now();
    try {
      const s = await transport.connect(address, { timeoutMs: plan.timeoutMs });
      await s.send(Uint8Array.of(1));
      await s.close();
      report({ done: true });
    } catch (err) {
      report({ error: describeError(err), ms: Date.now() - started });
    }
    return;
  }
  const sender: Sender = await transport.connect(address);

  switch (plan.kind) {
    case "scenario": {
      const enc = new ScenarioEncoder(plan.producerId, plan.size);
      for (let i = 0; i < plan.count; i++) {
        if (!sender.write(enc.encode(i))) await sender.drain();
      }
      break;
    }
    case "raw": {
      for (const size of plan.sizes) await sender.send(fillPattern(new Uint8Array(size), plan.seed));
      break;
    }
    case "rewrite": {
      const buf = new Uint8Array(plan.size);
      for (let i = 0; i < plan.count; i++) {
        const taken = sender.write(fillPattern(buf, i));
        buf.fill(0xee); // the caller may reuse its buffer as soon as write() returns
        if (!taken) await sender.drain();
      }
      break;
    }
    case "oversize": {
      try {
        sender.write(new Uint8Array(sender.maxMessageSize + 1));
        report({ oversize: "accepted" });
      } catch (err) {
        report({ oversize: describeError(err) });
      }
      await sender.send(Uint8Array.of(1, 2, 3));
      break;
    }
    case "kill-mid": {
      const enc = new ScenarioEncoder(0, plan.size);
      for (let i = 0; i < plan.count; i++) {
        if (!sender.write(enc.encode(i))) await sender.drain();
      }
      await sender.drain();
      report({ ready: true, pid: process.pid });
      const big = fillPattern(new Uint8Array(plan.bigSize), 7);
      for (;;) await sender.send(big);
    }
    case "flood": {
      const big = fillPattern(new Uint8Array(plan.size), 7);
      report({ ready: true });
      // This process's event loop must keep turning too.
      const gaps = watchLoopGaps();
      const until = Date.now() + plan.ms;
      let sent = 0;
      while (Date.now() < until) {
        for (let i = 0; i < 16; i++, sent++) {
          if (sent & 1) await sender.send(big);
          else if (!sender.write(big)) await sender.drain();
        }
      }
      const worstGapMs = gaps.stop();
      await sender.close();
      report({ done: true, sent, worstGapMs });
      return;
    }
    case "ignore-false": {
      // A write() that returned false has still queued its message: it must arrive with no drain() or close().
      const enc = new ScenarioEncoder(0, Math.min(plan.size, sender.maxMessageSize));
      let falses = 0;
      for (let i = 0; i < plan.count; i++) if (!sender.write(enc.encode(i))) falses++;
      report({ written: plan.count, falses });
      await new Promise((r) => setTimeout(r, 600_000));
      return;
    }
    case "until-gone": {
      report({ connected: true });
      const enc = new ScenarioEncoder(0, plan.size);
      let i = 0;
      const deadline = Date.now() + 20_000;
      try {
        for (;;) {
          await sender.send(enc.encode(i++));
          if ((i & 1023) === 0) {
            if (Date.now() > deadline) throw new Error("sending never failed");
            await new Promise((r) => setTimeout(r, 1));
          }
        }
      } catch (err) {
        report({ sent: i, error: describeError(err) });
        // The process must stay healthy: close() must not throw an unhandled error.
        await sender.close().catch(() => {});
        return;
      }
    }
  }
  await sender.close();
  report({ done: true });
}

main().catch((err) => {
  report({ fatal: describeError(err), stack: String((err as Error)?.stack ?? "") });
  process.exitCode = 1;
});
