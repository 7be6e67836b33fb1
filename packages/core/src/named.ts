import { ChannelError } from "./errors.js";
import { DEFAULT_PREFIX, validateName, validatePrefix } from "./names.js";
import { attachWithRetry } from "./retry.js";

/**
 * Named resources: the kernel and file-system objects a channel creates under
 * a name another process can find (a /dev/shm segment, a named semaphore, a
 * POSIX queue, a FIFO or socket file, a journal directory, a ZeroMQ ipc
 * file). Every kind has the same verbs; `@ipc-sampler/posix` supplies the
 * kinds, this file only their shape and the naming rules.
 *
 * Liveness is never read from a pid: the creator holds a lock the kernel
 * drops when it dies (an open-file-description lock on the resource, or on a
 * lock file beside it), and that lock looks the same from every pid
 * namespace. A resource whose lock nobody holds is stale.
 */
export type NamedKindId = "segment" | "semaphore" | "queue" | "fs-node" | "journal" | "zmq-ipc";

export interface NamedCreateOptions {
  /** Prefix added to a name that does not start with it (default `ipcs-`). */
  prefix?: string;
  /** Permission bits (default 0o600: this user only). */
  mode?: number;
}

export interface NamedOpenOptions {
  /** How long to wait for the resource to appear (ms, default 0: look once). Fails with ETIMEDOUT. */
  timeoutMs?: number;
  /** See NamedCreateOptions.prefix. */
  prefix?: string;
}

export interface NamedListOptions {
  /** Only names starting with this (default `ipcs-`; `""` lists every name of the kind). */
  prefix?: string;
  /** For kinds that live in a directory (FIFOs, socket files, journals): which one (default os.tmpdir()). */
  directory?: string;
}

export interface RemoveStaleOptions extends NamedListOptions {
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
  /**
   * A resource younger than this is never stale (ms, default 500): its
   * creator may not have taken its lock yet.
   */
  minAgeMs?: number;
}

/** What removeStale decided about one resource. */
export interface StaleEntry {
  readonly kind: NamedKindId;
  readonly name: string;
  /** stale and removed (or would be, with dryRun); kept: its owner is alive or it is too young; failed: stale, but removing it failed. */
  readonly outcome: "removed" | "kept" | "failed";
  /** Why, in a few words: "owner alive", "no owner", "EACCES: permission denied". */
  readonly reason: string;
  readonly error?: ChannelError;
}

/** What a handle of any kind can do besides its own work. */
export interface NamedHandle {
  readonly name: string;
  /** Releases this process's handle (and ownership: the resource becomes stale unless removed). */
  close(): void;
}

/**
 * One kind of named resource. `create` is exclusive (EEXIST), mode 0600 and
 * validates the name (EINVALIDNAME); `open` waits up to `timeoutMs` and fails
 * with ETIMEDOUT; `remove` is idempotent; `list` and `removeStale` take a
 * prefix, the default one unless told.
 */
export interface NamedKind<H extends NamedHandle = NamedHandle, C extends NamedCreateOptions = NamedCreateOptions> {
  readonly kind: NamedKindId;
  /** In messages: "shared memory segment". */
  readonly noun: string;
  create(name: string, options?: C): H;
  open(name: string, options?: NamedOpenOptions): Promise<H>;
  /** Opens the resource, or creates it (and owns it) when there is none. */
  openOrCreate(name: string, options?: C & NamedOpenOptions): Promise<H>;
  exists(name: string, options?: NamedListOptions): boolean;
  remove(name: string, options?: NamedListOptions): void;
  /** Names with the prefix that exist now. */
  list(options?: NamedListOptions): string[];
  /** True when a live process owns the resource (holds its lock). */
  ownerAlive(name: string, options?: NamedListOptions): boolean;
  removeStale(options?: RemoveStaleOptions): StaleEntry[];
}

/**
 * The capability a transport with named resources declares: the kinds it
 * creates, listed and cleaned together.
 */
export interface NamedResources {
  readonly kinds: readonly NamedKind[];
  list(options?: NamedListOptions): Promise<string[]>;
  removeStale(options?: RemoveStaleOptions): Promise<StaleEntry[]>;
}

/**
 * The name a resource gets: validated, and the prefix added when the name
 * does not start with it already, so `list()` with the same prefix sees it.
 */
export function prefixedName(name: string, what: string, prefix = DEFAULT_PREFIX, maxLength?: number): string {
  validatePrefix(prefix);
  const bare = name.startsWith("/") ? name.slice(1) : name;
  validateName(bare, what, maxLength);
  return validateName(bare.startsWith(prefix) ? bare : prefix + bare, what, maxLength);
}

/**
 * One capability from several kinds: lists and cleans them in turn. A kind
 * given with a tag covers only names `<prefix><tag>-…` (what the transport
 * names with `uniqueName(prefix, tag)`), so two transports sharing a kind
 * never list or clean each other's resources.
 */
export function namedResources(...entries: Array<NamedKind | readonly [NamedKind, string]>): NamedResources {
  const scoped = entries.map((e) => (Array.isArray(e) ? (e as readonly [NamedKind, string]) : ([e as NamedKind, ""] as const)));
  const scope = <O extends NamedListOptions>(o: O | undefined, tag: string): O => {
    const prefix = validatePrefix(o?.prefix ?? DEFAULT_PREFIX);
    return { ...(o ?? ({} as O)), prefix: tag ? `${prefix}${tag}-` : prefix };
  };
  return {
    kinds: scoped.map(([k]) => k),
    list: async (options) => scoped.flatMap(([k, tag]) => k.list(scope(options, tag))),
    removeStale: async (options) => scoped.flatMap(([k, tag]) => k.removeStale(scope(options, tag))),
  };
}

/** The names removeStale removed (or would remove). */
export function removedNames(entries: readonly StaleEntry[]): string[] {
  return entries.filter((e) => e.outcome === "removed").map((e) => e.name);
}

/**
 * The one way to wait for a named resource (`open`, and every transport's
 * `connect`): `attempt` is retried, backing off, while it fails with ENOENT;
 * after `timeoutMs` the wait fails with ETIMEDOUT.
 */
export function waitForResource<T>(noun: string, resource: string, timeoutMs: number, attempt: () => T | Promise<T>): Promise<T> {
  return attachWithRetry(attempt, {
    timeoutMs,
    absent: (err) => (ChannelError.is(err, "ENOENT") ? "ENOENT" : undefined),
    timedOut: (_code, err) => new ChannelError("ETIMEDOUT", `cannot open ${noun} ${resource}: it did not appear within ${timeoutMs} ms (is its owner running?)`, { resource, cause: err }),
  });
}
