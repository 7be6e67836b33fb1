export function fmtBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 1 : 0);
  return `${s} ${units[i]}`;
}

export function fmtCount(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "—";
  return n.toLocaleString("en-US");
}

/** 1234567 -> "1.23 M" */
export function fmtRate(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "—";
  if (n >= 1e9) return `${(n / 1e9).toPrecision(3)} G`;
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)} M`;
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)} k`;
  return n.toPrecision(3);
}

export function fmtMB(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "—";
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function fmtUs(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "—";
  if (n >= 10_000) return `${(n / 1000).toFixed(0)} ms`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)} ms`;
  return `${n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)} µs`;
}

export function fmtRatio(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "—";
  return `${n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2)}×`;
}

export function fmtSize(n: number): string {
  return fmtBytes(n).replace(" ", "\u00a0");
}

/** Colours by position in the transport registry (readable on light and dark). */
export const palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#a16207", "#db2777", "#4b5563"];

export function colourOf(id: string, ids: readonly string[]): string {
  const i = ids.indexOf(id);
  return i < 0 ? "#6b7280" : palette[i % palette.length]!;
}

/** Ticks for a log axis: powers of 10 (or of 2 for byte sizes) covering [min, max]. */
export function logTicks(min: number, max: number, base = 10): number[] {
  const lo = Math.floor(Math.log(min) / Math.log(base));
  const hi = Math.ceil(Math.log(max) / Math.log(base));
  const out: number[] = [];
  for (let e = lo; e <= hi; e++) out.push(base ** e);
  return out;
}

export interface BarGroup {
  id: string;
  colour: string;
  /** A bar without a value was not measured; `note` says why. */
  bars: { label: string; value?: number; faded?: boolean }[];
  note?: string;
}

/** Axis label for a power of ten: 1, 10, 100, 1k, 10k, 1M, … */
export function fmtTick(n: number): string {
  if (n >= 1e9) return `${n / 1e9}G`;
  if (n >= 1e6) return `${n / 1e6}M`;
  if (n >= 1e3) return `${n / 1e3}k`;
  return String(n);
}
