// Orderings stated on the site ("faster than", "the slowest here") come from
// the results file, never from the prose: a page writes <Ordering … /> with
// the claim as attributes, the component prints the measured numbers behind
// it, and the build fails when the shipped results contradict the claim
// (orderings-pages.ts reads the pages; this module also runs in the browser).
import type { ResultsData } from "./results.data";

/** The attributes of one `<Ordering … />` tag. */
export interface OrderingClaim {
  /** `throughput` (messages/s, more wins; the default) or `roundtrip` (p50, less wins). */
  metric?: "throughput" | "roundtrip";
  /** The subject: a transport id; for `roundtrip`, a comma list or `*` (every measured transport). */
  id: string;
  /** Throughput: the subject moves more messages/s than each of these, in every selected case. */
  than?: string;
  /** Throughput: the subject is first (or last) in more selected cases than any other transport. */
  place?: "first" | "last";
  /** Throughput: message sizes (bytes, comma list) to select; default every size. */
  size?: string;
  /** Throughput: producer counts (comma list) to select; default every count. */
  producers?: string;
  /** Roundtrip: the subject answers faster at this placement than at every other it was measured at. */
  placement?: string;
}

export interface Ranked {
  producers: number;
  size: number;
  /** Measured transports of the registry, most messages/s first. */
  order: { id: string; msgsPerSec: number }[];
}

export interface Evaluation {
  /** False: the results contradict the claim. Undefined: nothing to judge (no results, or the fixture). */
  holds?: boolean;
  /** The numbers behind the claim, for the page. */
  text: string;
  /** Why the claim does not hold. */
  why?: string;
}

const list = (s: string | undefined) => (s ?? "").split(",").map((x) => x.trim()).filter(Boolean);

export function fmtSizeShort(n: number): string {
  return n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}
const rate = (n: number) => Math.round(n).toLocaleString("en-US");
const us = (n: number) => `${n.toFixed(1)} µs`;
const ordinal = (n: number) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th"}`;
const caseName = (c: { producers: number; size: number }) => `${c.producers} producer${c.producers === 1 ? "" : "s"}, ${fmtSizeShort(c.size)}`;

/** Every (producers, size) case of the results, transports ranked by messages/s; only what was measured. */
export function rankedCases(results: ResultsData, claim: Pick<OrderingClaim, "size" | "producers"> = {}): Ranked[] {
  if (results.status !== "ok") return [];
  const sizes = list(claim.size).map(Number);
  const producers = list(claim.producers).map(Number);
  const cases = new Map<string, Ranked>();
  for (const r of results.rows) {
    if (r.msgsPerSec === undefined) continue;
    if (sizes.length && !sizes.includes(r.size)) continue;
    if (producers.length && !producers.includes(r.producers)) continue;
    const key = `${r.producers}/${r.size}`;
    let c = cases.get(key);
    if (!c) cases.set(key, (c = { producers: r.producers, size: r.size, order: [] }));
    c.order.push({ id: r.transport, msgsPerSec: r.msgsPerSec });
  }
  const out = [...cases.values()].sort((a, b) => a.producers - b.producers || a.size - b.size);
  for (const c of out) c.order.sort((a, b) => b.msgsPerSec - a.msgsPerSec);
  return out;
}

function throughput(claim: OrderingClaim, results: ResultsData): Evaluation {
  const cases = rankedCases(results, claim);
  if (cases.length === 0) return { text: "not measured in this results file" };
  const judged = results.status === "ok" && !results.fixture ? true : undefined;
  const subject = claim.id;
  const others = list(claim.than);
  if (others.length) {
    const parts: string[] = [];
    const wrong: string[] = [];
    for (const c of cases) {
      const me = c.order.find((o) => o.id === subject);
      const them = others.map((id) => c.order.find((o) => o.id === id));
      if (!me || them.some((t) => !t)) continue;
      const best = them.reduce((a, b) => (b!.msgsPerSec > a!.msgsPerSec ? b : a))!;
      parts.push(`${caseName(c)}: ${subject} ${rate(me.msgsPerSec)} msg/s${them.length > 1 ? `, the best of the others ${best.id}` : `, ${best.id}`} ${rate(best.msgsPerSec)}`);
      for (const t of them) if (t!.msgsPerSec >= me.msgsPerSec) wrong.push(`${t!.id} ${rate(t!.msgsPerSec)} ≥ ${subject} ${rate(me.msgsPerSec)} msg/s (${caseName(c)})`);
    }
    if (parts.length === 0) return { text: "not measured in this results file", holds: judged && false, why: `no case measures ${subject} and ${others.join(", ")} together` };
    return { text: parts.join("; "), holds: judged && wrong.length === 0, ...(wrong.length ? { why: wrong.join("; ") } : {}) };
  }
  const tally = new Map<string, number>();
  const places: string[] = [];
  for (const c of cases) {
    const at = c.order.findIndex((o) => o.id === subject);
    if (at >= 0) places.push(`${ordinal(at + 1)} of ${c.order.length} (${caseName(c)})`);
    const end = claim.place === "first" ? c.order[0] : c.order[c.order.length - 1];
    if (end) tally.set(end.id, (tally.get(end.id) ?? 0) + 1);
  }
  if (!claim.place) return { text: places.join(", ") };
  const mine = tally.get(subject) ?? 0;
  const rival = [...tally.entries()].filter(([id]) => id !== subject).sort((a, b) => b[1] - a[1])[0];
  const text = `${claim.place} in ${mine} of ${cases.length} measured cases`;
  const holds = mine > (rival?.[1] ?? 0);
  return { text, holds: judged && holds, ...(holds ? {} : { why: `${rival?.[0]} is ${claim.place} in ${rival?.[1]} cases, ${subject} in ${mine}` }) };
}

function roundTrip(claim: OrderingClaim, results: ResultsData): Evaluation {
  if (results.status !== "ok" || !claim.placement) return { text: "not measured in this results file" };
  const judged = !results.fixture ? true : undefined;
  const measured = results.roundTrip.filter((r) => r.p50Us !== undefined);
  const ids = claim.id === "*" ? [...new Set(measured.filter((r) => r.kind === "transport").map((r) => r.transport))] : list(claim.id);
  const parts: string[] = [];
  const wrong: string[] = [];
  for (const id of ids) {
    const rows = measured.filter((r) => r.transport === id);
    const here = rows.find((r) => r.placement === claim.placement);
    const there = rows.filter((r) => r.placement !== claim.placement);
    if (!here || there.length === 0) continue;
    parts.push(`${id} ${us(here.p50Us!)} against ${there.map((t) => `${us(t.p50Us!)} ${t.placement}`).join(", ")}`);
    for (const t of there) if (t.p50Us! <= here.p50Us!) wrong.push(`${id}: ${t.placement} ${us(t.p50Us!)} ≤ ${claim.placement} ${us(here.p50Us!)}`);
  }
  if (parts.length === 0) return { text: "not measured in this results file", holds: judged && false, why: `no round trip of ${claim.id} at ${claim.placement} and elsewhere` };
  return { text: `round-trip p50 ${claim.placement}: ${parts.join("; ")}`, holds: judged && wrong.length === 0, ...(wrong.length ? { why: wrong.join("; ") } : {}) };
}

export function evaluate(claim: OrderingClaim, results: ResultsData): Evaluation {
  return claim.metric === "roundtrip" ? roundTrip(claim, results) : throughput(claim, results);
}

/** The `<Ordering … />` tags of a Markdown page, attributes as written. */
export function claimsIn(markdown: string): OrderingClaim[] {
  const out: OrderingClaim[] = [];
  for (const m of markdown.matchAll(/<Ordering\b([^>]*?)\/>/g)) {
    const attrs: Record<string, string> = {};
    for (const a of m[1]!.matchAll(/([a-z]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
    out.push(attrs as unknown as OrderingClaim);
  }
  return out;
}

/** Words that rank or compare speed; a sentence using one must carry an <Ordering> tag. */
export const ORDERING_WORDS = /\b(fastest|slowest|faster|slower|quickest|quicker|outperforms?|beats?|beaten)\b/i;

/** Sentences (table cells count as paragraphs) of prose that compare speed without an <Ordering> tag. */
export function unbackedOrderings(markdown: string): string[] {
  const prose = markdown.replace(/^---\n[\s\S]*?\n---\n/, "").replace(/```[\s\S]*?```/g, "");
  const blocks = prose.split(/\n\s*\n/).flatMap((b) => (/^\s*\|/m.test(b) ? b.split("\n").flatMap((row) => row.split("|")) : [b]));
  const sentences = blocks.flatMap((b) => b.split(/(?<=[.!?])\s+/));
  return sentences.filter((x) => ORDERING_WORDS.test(x) && !/<Ordering\b/.test(x)).map((x) => x.trim().replace(/\s+/g, " "));
}
