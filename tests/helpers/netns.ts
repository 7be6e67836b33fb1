import { spawnSync, type ChildProcess } from "node:child_process";

/**
 * Two hosts on one machine for tests: network namespaces joined by a veth
 * pair (root only; a test that cannot have them skips with the reason).
 */
export function sh(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsSkipReason(tag: string): string | undefined {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return "needs root on Linux (ip netns)";
  const r = sh(["ip", "netns", "add", `${tag}probe`]);
  if (!r.ok) return `ip netns is not available here: ${r.out}`;
  sh(["ip", "netns", "del", `${tag}probe`]);
  return undefined;
}

export interface TwoHosts {
  readonly a: string;
  readonly b: string;
  /** The veth ends: `${tag}x` in a, `${tag}y` in b. */
  readonly devA: string;
  readonly devB: string;
  /** Creates both namespaces and the link; the problem, or undefined. */
  up(): string | undefined;
  /** Removes both (the veth pair goes with them). */
  down(): void;
}

export function twoHosts(tag: string, addrA: string, addrB: string): TwoHosts {
  const a = `${tag}a`;
  const b = `${tag}b`;
  const devA = `${tag}x`;
  const devB = `${tag}y`;
  return {
    a,
    b,
    devA,
    devB,
    up() {
      const steps = [
        ["ip", "netns", "add", a],
        ["ip", "netns", "add", b],
        ["ip", "link", "add", devA, "netns", a, "type", "veth", "peer", "name", devB, "netns", b],
        ["ip", "-n", a, "addr", "add", `${addrA}/24`, "dev", devA],
        ["ip", "-n", b, "addr", "add", `${addrB}/24`, "dev", devB],
        ["ip", "-n", a, "link", "set", devA, "up"],
        ["ip", "-n", b, "link", "set", devB, "up"],
        ["ip", "-n", a, "link", "set", "lo", "up"],
        ["ip", "-n", b, "link", "set", "lo", "up"],
      ];
      for (const s of steps) {
        const r = sh(s);
        if (!r.ok) return `${s.join(" ")}: ${r.out}`;
      }
      return undefined;
    },
    down() {
      sh(["ip", "netns", "del", a]);
      sh(["ip", "netns", "del", b]);
    },
  };
}

/** The lines a child prints, as parsed JSON, one promise per line in order. */
export function jsonLines(child: ChildProcess): () => Promise<Record<string, any>> {
  const queue: string[] = [];
  const waiting: Array<(s: string) => void> = [];
  let rest = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    rest += d;
    for (let i = rest.indexOf("\n"); i >= 0; i = rest.indexOf("\n")) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  return () =>
    new Promise((resolve, reject) => {
      const take = (s: string) => resolve(JSON.parse(s) as Record<string, any>);
      const q = queue.shift();
      if (q !== undefined) return take(q);
      waiting.push(take);
      child.once("exit", (c, sig) => reject(new Error(`process exited (${c ?? sig}) before printing`)));
    });
}
