/**
 * The lifecycle every kind of named resource must show (see named.ts),
 * checked against a kind exported by a built module: create twice is EEXIST,
 * open of a missing name is ETIMEDOUT within its timeout, list shows what
 * exists, remove twice is fine, and removeStale decides by the owner's lock:
 * it keeps a live owner's resource even when run in another pid namespace,
 * and removes a dead owner's resource even when the pid in its name is a
 * live process's.
 */
import { spawnSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChannelError } from "../errors.js";
import type { NamedCreateOptions, NamedHandle, NamedKind, StaleEntry } from "../named.js";
import { killStartedProcesses, startProcess } from "./index.js";

export interface NamedKindTarget {
  /** The kind, used in this process. */
  kind: NamedKind;
  /** URL of the built module that exports it, for owner and cleaner processes. */
  module: string | URL;
  /** Name of the export in `module` that is the kind. */
  exportName: string;
  /** Options for create() beyond the prefix (a size, a directory). */
  createOptions?: NamedCreateOptions & Record<string, unknown>;
  /** Skip every test, printing this reason. */
  skip?: string | undefined;
  /** Skip only the list check, printing this reason (queues without a mounted mqueue file system). */
  skipList?: string | undefined;
  /** Runs before the tests (mounting what the kind needs). */
  setup?: () => void | Promise<void>;
  teardown?: () => void | Promise<void>;
}

const moduleUrl = (t: NamedKindTarget) => (t.module instanceof URL ? t.module.href : t.module);

/** `unshare --pid --fork` (with these options) works here (root, or user namespaces allowed)? Undefined when it does, else why not. */
export function pidNamespaceUnavailable(options: readonly string[] = ["--pid", "--fork"]): string | undefined {
  const r = spawnSync("unshare", [...options, "true"], { encoding: "utf8", timeout: 10_000 });
  if (r.error) return `unshare is not available (${(r.error as NodeJS.ErrnoException).code})`;
  if (r.status !== 0) return `unshare ${options.join(" ")} is not permitted here: ${r.stderr.trim()}`;
  return undefined;
}

export function runNamedKindConformance(target: NamedKindTarget): void {
  const title = `named resource lifecycle: ${target.kind.kind} (${target.kind.noun})`;
  if (target.skip) {
    describe.skip(`${title} — skipped: ${target.skip}`, () => it("skipped", () => {}));
    console.warn(`[conformance] ${title} skipped: ${target.skip}`);
    return;
  }
  const kind = target.kind;
  const prefix = `ipcs-nk${process.pid}-`;
  const options = { ...(target.createOptions ?? {}), prefix };
  const handles: NamedHandle[] = [];
  let n = 0;
  const fresh = () => `${kind.kind}-${n++}`;

  /** A process that creates `name` with the kind, prints {"ready":true}, and waits to be killed. */
  const startOwner = async (name: string) => {
    const script = `const k = (await import(${JSON.stringify(moduleUrl(target))}))[${JSON.stringify(target.exportName)}];
k.create(${JSON.stringify(name)}, ${JSON.stringify(options)});
process.stdout.write(JSON.stringify({ ready: true }) + "\\n");
setInterval(() => {}, 1000);`;
    const p = startProcess(["--input-type=module", "-e", script], { timeoutMs: 30_000 });
    await p.waitFor((l) => l.ready === true, 20_000);
    return p;
  };

  /** removeStale in a fresh process, under `wrap` (e.g. unshare --pid --fork). */
  const removeStaleIn = (wrap: string[]): StaleEntry[] => {
    const script = `const k = (await import(${JSON.stringify(moduleUrl(target))}))[${JSON.stringify(target.exportName)}];
process.stdout.write(JSON.stringify(k.removeStale({ ...${JSON.stringify(options)}, minAgeMs: 0 }).map(({ error, ...e }) => e)));`;
    const argv = [...wrap, process.execPath, "--input-type=module", "-e", script];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 20_000 });
    if (r.status !== 0) throw new Error(`removeStale process failed (${r.status ?? r.signal}): ${r.stderr}`);
    return JSON.parse(r.stdout) as StaleEntry[];
  };

  const entryFor = (entries: StaleEntry[], name: string) => entries.find((e) => e.name.includes(name));

  describe(title, () => {
    beforeAll(async () => {
      await target.setup?.();
    });
    afterEach(() => {
      killStartedProcesses();
      for (const h of handles.splice(0)) h.close();
    });
    afterAll(async () => {
      for (const name of kind.list({ ...options })) {
        try {
          kind.remove(name.slice(name.lastIndexOf("/") + 1), options);
        } catch {
          // best effort
        }
      }
      await target.teardown?.();
    });

    it("create is exclusive: a second create of the name fails with EEXIST", () => {
      const name = fresh();
      handles.push(kind.create(name, options));
      expect(() => kind.create(name, options)).toThrow(expect.objectContaining({ code: "EEXIST" }));
      kind.remove(name, options);
    });

    it("open of a missing name fails with ETIMEDOUT within its timeout", async () => {
      const t0 = performance.now();
      const err = await kind.open(fresh(), { ...options, timeoutMs: 300 }).catch((e: unknown) => e);
      const took = performance.now() - t0;
      expect(err).toBeInstanceOf(ChannelError);
      expect((err as ChannelError).code).toBe("ETIMEDOUT");
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(5_000);
    });

    it("open finds a resource that appears while it waits; openOrCreate opens an existing one", async () => {
      const name = fresh();
      const opening = kind.open(name, { ...options, timeoutMs: 5_000 });
      setTimeout(() => handles.push(kind.create(name, options)), 50);
      handles.push(await opening);
      handles.push(await kind.openOrCreate(name, options));
      expect(kind.exists(name, options)).toBe(true);
      kind.remove(name, options);
    });

    it.skipIf(target.skipList !== undefined)(`list shows what exists, with the prefix${target.skipList ? ` — skipped: ${target.skipList}` : ""}`, () => {
      const name = fresh();
      handles.push(kind.create(name, options));
      expect(kind.list(options).some((n) => n.includes(name))).toBe(true);
      expect(kind.list({ ...options, prefix: `${prefix}other-` }).some((n) => n.includes(name))).toBe(false);
      kind.remove(name, options);
    });

    it("remove twice is fine, and exists() says it is gone", () => {
      const name = fresh();
      handles.push(kind.create(name, options));
      kind.remove(name, options);
      kind.remove(name, options);
      expect(kind.exists(name, options)).toBe(false);
    });

    it.skipIf(target.skipList !== undefined)("removeStale removes a dead owner's resource even when the pid in its name belongs to a live process", async () => {
      // This process is alive: a check by pid would keep the resource.
      const name = `${kind.kind}-${process.pid}-dead`;
      const owner = await startOwner(name);
      owner.child.kill("SIGKILL");
      await owner.exit;
      expect(kind.exists(name, options)).toBe(true);
      expect(kind.ownerAlive(name, options)).toBe(false);
      const dry = kind.removeStale({ ...options, minAgeMs: 0, dryRun: true });
      expect(entryFor(dry, name)).toMatchObject({ outcome: "removed" });
      expect(kind.exists(name, options)).toBe(true);
      const entries = kind.removeStale({ ...options, minAgeMs: 0 });
      expect(entryFor(entries, name)).toMatchObject({ outcome: "removed", reason: "no owner" });
      expect(kind.exists(name, options)).toBe(false);
    });

    const noNamespace = target.skipList ?? pidNamespaceUnavailable();
    if (noNamespace) console.warn(`[conformance] ${title}: the pid-namespace check is skipped: ${noNamespace}`);
    it.skipIf(noNamespace !== undefined)(`removeStale run in another pid namespace keeps a live owner's resource${noNamespace ? ` — skipped: ${noNamespace}` : ""}`, async () => {
      const name = fresh();
      const owner = await startOwner(name);
      // Inside the new namespace the owner's pid does not exist.
      const entries = removeStaleIn(["unshare", "--pid", "--fork"]);
      expect(entryFor(entries, name)).toMatchObject({ outcome: "kept", reason: "owner alive" });
      expect(kind.exists(name, options)).toBe(true);
      expect(kind.ownerAlive(name, options)).toBe(true);
      owner.child.kill("SIGKILL");
      await owner.exit;
      kind.remove(name, options);
    });
  });
}
