import type { RunRecord } from "./run.js";

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

/** The comparison table of `--transport all`. */
export function formatTable(records: readonly RunRecord[]): string {
  const header = ["transport", "ok", "msgs/s", "MB/s", "p50 us", "p99 us", "RSS consumer", "RSS producer", "error"];
  const rows = records.map((r) => [
    r.transport,
    r.ok ? "OK" : "FAIL",
    r.ok || r.received ? humanRate(r.msgsPerSec) : "-",
    r.ok || r.received ? r.mbPerSec.toFixed(1) : "-",
    r.ok ? r.latencyP50Us.toFixed(1) : "-",
    r.ok ? r.latencyP99Us.toFixed(1) : "-",
    r.peakRssBytes.consumer ? humanBytes(r.peakRssBytes.consumer) : "-",
    r.peakRssBytes.producers ? humanBytes(r.peakRssBytes.producers) : "-",
    r.ok ? "" : (r.error ?? "").slice(0, 80),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
