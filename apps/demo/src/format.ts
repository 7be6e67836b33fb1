import type { MechanismDescriptor } from "@ipc-sampler/core";
import { LOADED_LATENCY, UNLOADED_ROUND_TRIP, type RunRecord } from "./run.js";
import type { RoundTrip } from "./roundtrip.js";

export function humanRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(0);
}

export function humanBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes.toFixed(0)} B`;
}

/** 64 -> "64 B", 65536 -> "64 KiB", 1048576 -> "1 MiB". */
export function sizeLabel(size: number): string {
  if (size >= 1024 * 1024 && size % (1024 * 1024) === 0) return `${size / (1024 * 1024)} MiB`;
  if (size >= 1024 && size % 1024 === 0) return `${size / 1024} KiB`;
  return `${size.toLocaleString("en-US")} B`;
}

const n = (x: number) => x.toLocaleString("en-US");

/** The round trip's line: the figures, or why there are none. */
function roundTripText(transport: string, rt: RoundTrip | undefined): string {
  if (!rt) return "not measured (--round-trips 0)";
  if (rt.skipped !== undefined) return `none: the ${transport} cannot answer yet (${rt.skipped})`;
  if (!rt.ok) return `failed: ${rt.error}`;
  return `p50 ${rt.p50Us.toFixed(1)} us, p99 ${rt.p99Us.toFixed(1)} us  ${UNLOADED_ROUND_TRIP}, ${n(rt.roundTrips)} x ${sizeLabel(rt.size)}`;
}

/** The text of one run: the head line, then the first cause of a failure, then the figures. */
export function formatSummary(r: RunRecord): string {
  const head = `${r.transport}: ${r.producers} producers x ${n(r.messages)} messages x ${r.size} B`;
  if (r.skipped !== undefined) return `${head}\n  SKIPPED: ${r.skipped}`;
  const lines = [head];
  if (!r.ok) {
    lines.push(`  FAILED: ${r.error ?? "see problems"}`);
    const consequences = (r.problems ?? []).filter((p) => p !== r.error);
    if (consequences.length) lines.push(`  then    ${consequences.slice(0, 4).join("; ")}${consequences.length > 4 ? `; … ${consequences.length - 4} more (--json lists them)` : ""}`);
    if (r.received === 0) return lines.join("\n");
  }
  lines.push(
    `  elapsed    ${(r.elapsedMs / 1000).toFixed(3)} s`,
    `  rate       ${humanRate(r.msgsPerSec)} msg/s, ${humanBytes(r.mbPerSec * 1e6)}/s`,
    `  latency    p50 ${r.latencyP50Us.toFixed(1)} us, p99 ${r.latencyP99Us.toFixed(1)} us  ${LOADED_LATENCY}`,
    `  round trip ${roundTripText(r.transport, r.unloadedRoundTrip)}`,
    `  total      ${n(r.total)} (expected ${n(r.expectedTotal)})`,
    `  peak RSS   consumer ${humanBytes(r.peakRssBytes.consumer)}, producer ${humanBytes(r.peakRssBytes.producers)}`,
  );
  if (r.ok) lines.push("  OK: every message arrived once, whole, in order per producer");
  return lines.join("\n");
}

/** The comparison table of `--transport all`. */
export function formatTable(records: readonly RunRecord[]): string {
  const header = ["transport", "ok", "msgs/s", "MB/s", "load p50 us", "load p99 us", "rtt p50 us", "RSS consumer", "RSS producer", "error or reason"];
  const rows = records.map((r) => {
    const ran = r.skipped === undefined;
    const rt = r.unloadedRoundTrip;
    return [
      r.transport,
      !ran ? "SKIP" : r.ok ? "OK" : "FAIL",
      r.ok && ran || r.received ? humanRate(r.msgsPerSec) : "-",
      r.ok && ran || r.received ? r.mbPerSec.toFixed(1) : "-",
      r.ok && ran ? r.latencyP50Us.toFixed(1) : "-",
      r.ok && ran ? r.latencyP99Us.toFixed(1) : "-",
      rt?.ok && rt.skipped === undefined ? rt.p50Us.toFixed(1) : rt?.skipped !== undefined ? "none" : "-",
      r.peakRssBytes.consumer ? humanBytes(r.peakRssBytes.consumer) : "-",
      r.peakRssBytes.producers ? humanBytes(r.peakRssBytes.producers) : "-",
      (r.skipped ?? (r.ok ? "" : (r.error ?? ""))).slice(0, 100),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The legend printed above the table: what its two latency columns are. */
export function tableLegend(records: readonly RunRecord[]): string {
  const noAnswer = records.filter((r) => r.unloadedRoundTrip?.skipped !== undefined).map((r) => r.transport);
  return (
    `load p50/p99: latency ${LOADED_LATENCY}; rtt p50: round trip ${UNLOADED_ROUND_TRIP}` +
    (noAnswer.length ? `; none: ${noAnswer.join(", ")} cannot answer yet` : "")
  );
}

/**
 * One line under the `--transport all` table: what limits it at this size,
 * judged from the runs (consumer CPU per message, the spread of the rates)
 * and the descriptors (copies per message), and where the mechanisms differ.
 */
export function whatLimits(records: readonly RunRecord[], size: number, descriptors: ReadonlyMap<string, MechanismDescriptor>): string {
  const ran = records.filter((r) => r.ok && r.skipped === undefined && r.received > 0);
  if (ran.length < 2) return "Too few transports ran to compare.";
  const rates = ran.map((r) => r.msgsPerSec);
  const spread = Math.max(...rates) / Math.max(1, Math.min(...rates));
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  const consumerUs = median(ran.map((r) => (r.cpuMs.consumer * 1000) / r.received));
  const producersUs = median(ran.map((r) => (r.cpuMs.producers * 1000) / r.received));
  // Process start-up is in the CPU times too: per-message figures only where it is a small share.
  const cpu = Math.min(...ran.map((r) => r.received)) >= 100_000 ? `: ~${consumerUs.toFixed(2)} us of consumer and ~${producersUs.toFixed(2)} us of producer CPU per message` : "";
  const fastest = ran.reduce((a, b) => (b.msgsPerSec > a.msgsPerSec ? b : a));
  const copies = (r: RunRecord) => descriptors.get(r.transport)?.copiesPerMessage;
  if (size <= 4096) {
    return (
      `What limits this table: at ${sizeLabel(size)} the scenario's per-message JavaScript (encode, checksum, verify${cpu}), not the mechanism, ` +
      (spread < 2
        ? `so the rows look alike (fastest/slowest ${spread.toFixed(1)}x). `
        : `so the rows should look alike; these are ${spread.toFixed(1)}x apart, more than that explains: other load on the machine or one transport's own per-message overhead (rerun, or \`bench\` for repeated runs). `) +
      `The mechanisms differ with large messages (--size 64KiB or --size 1MiB, where copies per message count) and in the rtt column.`
    );
  }
  const counts = ran.map((r) => copies(r)).filter((c): c is number => c !== undefined);
  const fewest = Math.min(...counts);
  const leaders = ran.filter((r) => copies(r) === fewest).map((r) => r.transport);
  const rest = [...new Set(counts.filter((c) => c > fewest))].sort();
  return (
    `What limits this table: at ${sizeLabel(size)} copying the bytes does: ${leaders.join(", ")} copy each message ${fewest === 1 ? "once" : `${fewest} times`}` +
    `${rest.length ? `, the others ${rest.join(" or ")} times` : ""}; fastest here ${fastest.transport} at ${humanBytes(fastest.mbPerSec * 1e6)}/s, fastest/slowest ${spread.toFixed(1)}x. ` +
    `At 64 B the scenario's per-message JavaScript limits every row alike; the rtt column shows the cost of one hop and wake-up.`
  );
}
