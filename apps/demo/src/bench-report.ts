import type { BenchResults, RoundTripRow, ThroughputRow } from "./bench-schema.js";

function rate(x: number | undefined): string {
  if (x === undefined) return "-";
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)} k`;
  return x.toFixed(0);
}

function mb(x: number | undefined): string {
  if (x === undefined) return "-";
  return x >= 1000 ? `${(x / 1000).toFixed(2)} GB/s` : `${x.toFixed(0)} MB/s`;
}

function size(bytes: number): string {
  return bytes >= 1048576 ? `${bytes / 1048576} MiB` : bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (!a || !b) return "-";
  return `${(a / b).toFixed(2)}x`;
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** The reference row a transport row is compared with. */
export function referenceFor(results: BenchResults, row: ThroughputRow, kind: "reference-c" | "node-ipc-json" | "node-net-uds"): ThroughputRow | undefined {
  return results.throughput.find((r) =>
    kind === "reference-c"
      ? r.kind === "reference-c" && r.mechanism === row.mechanism && r.producers === row.producers && r.size === row.size && r.ok && !r.skipped
      : r.transport === kind && r.producers === row.producers && r.size === row.size && r.ok && !r.skipped,
  );
}

/** What a reference row is called in tables (ids stay as they are in the records). */
const REFERENCE_LABELS: Readonly<Record<string, string>> = {
  "node-ipc-json": "process.send (json)",
  "node-ipc-advanced": "process.send (advanced)",
  "node-net-uds": "Node net (Unix socket)",
  "python-queue": "Python multiprocessing.Queue",
  "python-pipe": "Python multiprocessing.Pipe",
  "python-shm-blocking": "Python shared_memory ring (blocking)",
  "python-shm-spin": "Python shared_memory ring (spinning)",
  "python-pool": "Python multiprocessing.Pool",
  "node-fork-pool": "child_process.fork + process.send",
};

export function rowLabel(transport: string): string {
  return REFERENCE_LABELS[transport] ?? transport;
}

function rttFor(results: BenchResults, row: RoundTripRow): RoundTripRow | undefined {
  return results.roundTrip.find((r) => r.kind === "reference-c" && r.mechanism === row.mechanism && r.placement === row.placement && r.ok && !r.skipped);
}

/** Plain Node net's round trip at the row's placement: what a user would otherwise write. */
function nodeNetRttFor(results: BenchResults, row: RoundTripRow): RoundTripRow | undefined {
  return results.roundTrip.find((r) => r.kind === "node-net" && r.placement === row.placement && r.ok && !r.skipped);
}

/** The markdown table written beside each results file. */
export function renderMarkdown(results: BenchResults): string {
  const m = results.machine;
  const out: string[] = [];
  out.push(`# ipc-sampler benchmark${results.quick ? " (quick)" : ""}`);
  out.push("");
  out.push(`${results.createdAt} · ${m.cpuModel} × ${m.cores} cores · ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB · Linux ${m.kernel} · Node ${m.node}`);
  out.push(`Limits: PIPE_BUF ${m.limits.pipeBufBytes} B, pipe-max-size ${m.limits.pipeMaxSizeBytes} B, mq msg_max ${m.limits.mqMsgMax}, msgsize_max ${m.limits.mqMsgsizeMax} B.`);
  out.push(`Each case: ${results.settings.warmups} warm-up run(s), then ${results.settings.repetitions} measured; median (min–max). One-way throughput, every message verified; "transport only" is the same case with one message sent M times and only counted (no per-message encode, clock or checksum).`);
  out.push("");
  out.push("## Throughput");
  out.push("");
  const ours = results.throughput.filter((r) => r.kind === "transport");
  out.push(
    table(
      ["transport", "P", "size", "msgs/s median (min–max)", "MB/s", "transport only msgs/s", "transport only MB/s", "p50 µs", "p99 µs", "vs C", "vs process.send", "vs Node net", "CPU ms cons/prod", "peak RSS cons/prod"],
      ours.map((r) => {
        if (r.skipped) return [r.transport, String(r.producers), size(r.size), `skipped: ${r.skipped}`, "", "", "", "", "", "", "", "", "", ""];
        if (!r.ok && !r.msgsPerSec) return [r.transport, String(r.producers), size(r.size), `FAILED: ${r.error ?? ""}`, "", "", "", "", "", "", "", "", "", ""];
        const bare = r.transportOnly;
        const c = referenceFor(results, r, "reference-c");
        const n = referenceFor(results, r, "node-ipc-json");
        const net = referenceFor(results, r, "node-net-uds");
        return [
          r.transport + (r.ok ? "" : " (FAILED run)"),
          String(r.producers),
          size(r.size),
          `${rate(r.msgsPerSec?.median)} (${rate(r.msgsPerSec?.min)}–${rate(r.msgsPerSec?.max)})`,
          mb(r.mbPerSec?.median),
          bare && !bare.ok ? `FAILED: ${bare.error ?? ""}` : rate(bare?.msgsPerSec?.median),
          bare && !bare.ok ? "" : mb(bare?.mbPerSec?.median),
          String(r.latencyP50Us?.median ?? "-"),
          String(r.latencyP99Us?.median ?? "-"),
          ratio(r.mbPerSec?.median, c?.mbPerSec?.median),
          ratio(r.mbPerSec?.median, n?.mbPerSec?.median),
          ratio(r.mbPerSec?.median, net?.mbPerSec?.median),
          r.cpuMs ? `${Math.round(r.cpuMs.consumer)} / ${Math.round(r.cpuMs.producers)}` : "-",
          r.peakRssBytes ? `${(r.peakRssBytes.consumer / 1e6).toFixed(0)} / ${(r.peakRssBytes.producers / 1e6).toFixed(0)} MB` : "-",
        ];
      }),
    ),
  );
  const refs = results.throughput.filter((r) => r.kind !== "transport");
  if (refs.length) {
    out.push("");
    out.push("## Reference rows");
    out.push("");
    out.push(
      table(
        ["reference", "kind", "P", "size", "msgs/s median (min–max)", "MB/s", "p50 µs", "p99 µs"],
        refs.map((r) =>
          r.skipped
            ? [rowLabel(r.transport), r.kind, String(r.producers), size(r.size), `skipped: ${r.skipped}`, "", "", ""]
            : !r.ok && !r.msgsPerSec
              ? [rowLabel(r.transport), r.kind, String(r.producers), size(r.size), `FAILED: ${r.error ?? ""}`, "", "", ""]
              : [rowLabel(r.transport), r.kind, String(r.producers), size(r.size), `${rate(r.msgsPerSec?.median)} (${rate(r.msgsPerSec?.min)}–${rate(r.msgsPerSec?.max)})`, mb(r.mbPerSec?.median), String(r.latencyP50Us?.median ?? "-"), String(r.latencyP99Us?.median ?? "-")],
        ),
      ),
    );
  }
  if (results.roundTrip.length) {
    out.push("");
    out.push("## Round trip, 64 B");
    out.push("");
    out.push(
      table(
        ["transport", "kind", "placement", "p50 µs", "p99 µs", "p99.9 µs", "p50 vs C", "p50 vs Node net (Unix socket)"],
        results.roundTrip.map((r) =>
          r.skipped
            ? [r.transport, r.kind, r.placement, `skipped: ${r.skipped}`, "", "", "", ""]
            : !r.ok
              ? [r.transport, r.kind, r.placement, `FAILED: ${r.error ?? ""}`, "", "", "", ""]
              : [
                  r.transport,
                  r.kind,
                  r.placement,
                  String(r.p50Us),
                  String(r.p99Us),
                  String(r.p999Us),
                  r.kind === "transport" ? ratio(r.p50Us, rttFor(results, r)?.p50Us) : "",
                  r.kind === "transport" ? ratio(r.p50Us, nodeNetRttFor(results, r)?.p50Us) : "",
                ],
        ),
      ),
    );
  }
  if (results.pool) {
    const p = results.pool;
    const x = (v: number | undefined): string => (v === undefined ? "-" : `${v.toFixed(2)}x`);
    out.push("");
    out.push(`## Process pool (${p.processes} workers)`);
    out.push("");
    out.push(`Method: ${p.method} Sizes: map of ${p.items.toLocaleString("en-US")} ints; map of ${p.tasks.toLocaleString("en-US")} tasks, chunksize 1; ${p.applyCalls.toLocaleString("en-US")} apply calls; ${p.startJoins} start → join.`);
    out.push("");
    out.push(
      table(
        ["pool", "start ms", "map ints/s", "vs Python", "vs fork pool", "chunksize 1 tasks/s", "vs Python", "vs fork pool", "apply p50 µs", "vs own round trip", "start→join ms", "vs fork"],
        p.rows.map((r) => {
          const name = r.kind === "transport" ? r.transport : rowLabel(r.transport);
          if (r.skipped) return [name, `skipped: ${r.skipped}`, "", "", "", "", "", "", "", "", "", ""];
          if (!r.ok) return [name, `FAILED: ${r.error ?? ""}`, "", "", "", "", "", "", "", "", "", ""];
          const q = r.ratios ?? {};
          return [
            name,
            String(r.startMs ?? "-"),
            rate(r.mapIntsPerSec),
            x(q.mapIntsVsPython),
            x(q.mapIntsVsFork),
            rate(r.mapTasksPerSec),
            x(q.mapTasksVsPython),
            x(q.mapTasksVsFork),
            String(r.applyP50Us ?? "-"),
            x(q.applyVsRoundTrip),
            r.startJoinMs === undefined ? "-" : `${r.startJoinMs}${r.forkStartJoinMs ? ` (fork ${r.forkStartJoinMs})` : ""}`,
            x(q.startJoinVsFork),
          ];
        }),
      ),
    );
  }
  if (results.sharedState) {
    const s = results.sharedState;
    out.push("");
    out.push("## Shared state");
    out.push("");
    out.push(`Method: ${s.method}`);
    out.push("");
    if (s.skipped) out.push(`skipped: ${s.skipped}`);
    else {
      const v = (x: number | undefined, unit: string | undefined): string => (x === undefined ? "-" : unit === "p50 µs" ? String(x) : rate(x));
      const x = (q: number | undefined): string => (q === undefined ? "-" : `${q.toFixed(2)}x`);
      out.push(table(["case", "unit", "ours", "Python", "vs Python", "C futex", "vs C"], s.rows.map((r) => [r.case, r.unit ?? "", v(r.ours, r.unit), v(r.python, r.unit), x(r.vsPython), v(r.c, r.unit), x(r.vsC)])));
      for (const note of [s.error && `FAILED: ${s.error}`, s.pythonSkipped && `Python: ${s.pythonSkipped}`, s.cSkipped && `C: ${s.cSkipped}`]) if (note) out.push("", note);
    }
  }
  out.push("");
  return out.join("\n");
}
