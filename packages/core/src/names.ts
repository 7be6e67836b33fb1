import { ChannelError } from "./errors.js";

/** Every resource ipc-sampler names carries this prefix unless told otherwise. */
export const DEFAULT_PREFIX = "ipcs-";

/** NAME_MAX on Linux: one path component, also the bound for mq and sem names. */
const NAME_MAX = 255;
/** sizeof(sockaddr_un.sun_path) on Linux, including the terminating NUL. */
export const UNIX_PATH_MAX = 108;

const SAFE = /^[A-Za-z0-9._-]+$/;

/**
 * Validates a bare resource name (no slashes): the part a user chooses for a
 * queue, semaphore, segment or FIFO. Throws ChannelError EINVALIDNAME with a
 * message that says how to fix it.
 */
export function validateName(name: string, what = "resource", maxLength = NAME_MAX - 10): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new ChannelError("EINVALIDNAME", `invalid ${what} name: it must be a non-empty string`, { resource: String(name) });
  }
  if (name === "." || name === ".." || name.includes("..")) {
    throw new ChannelError("EINVALIDNAME", `invalid ${what} name ${JSON.stringify(name)}: ".." is not allowed`, { resource: name });
  }
  if (name.includes("/")) {
    throw new ChannelError("EINVALIDNAME", `invalid ${what} name ${JSON.stringify(name)}: "/" is not allowed`, { resource: name });
  }
  if (!SAFE.test(name)) {
    throw new ChannelError("EINVALIDNAME", `invalid ${what} name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-" only`, { resource: name });
  }
  if (Buffer.byteLength(name) > maxLength) {
    throw new ChannelError("EINVALIDNAME", `invalid ${what} name ${JSON.stringify(name.slice(0, 20))}…: longer than ${maxLength} bytes`, { resource: name });
  }
  return name;
}

/**
 * A POSIX kernel-object name (`mq_open`, `sem_open`, `shm_open`): one leading
 * slash, then a valid bare name. Accepts the name with or without the slash.
 */
export function posixName(name: string, what = "resource"): string {
  const bare = name.startsWith("/") ? name.slice(1) : name;
  return "/" + validateName(bare, what, NAME_MAX - 4);
}

let counter = 0;
/**
 * A fresh name no other live channel uses: prefix, pid, a per-process counter
 * and random bits. The pid lets stale-resource cleanup tell whether the owner
 * is still alive.
 */
export function uniqueName(prefix = DEFAULT_PREFIX, tag = ""): string {
  validatePrefix(prefix);
  const rand = Math.floor(Math.random() * 0xffffff).toString(36);
  return `${prefix}${tag ? tag + "-" : ""}${process.pid}-${(counter++).toString(36)}${rand}`;
}

export function validatePrefix(prefix: string): string {
  if (prefix === "") return prefix;
  return validateName(prefix, "prefix", 64);
}

/**
 * Reads the owner pid that `uniqueName` embedded in a name, or undefined.
 * Names look like `<prefix>[<tag>-]<pid>-<suffix>`.
 */
export function ownerPidOf(name: string, prefix = DEFAULT_PREFIX): number | undefined {
  const bare = name.startsWith("/") ? name.slice(1) : name;
  if (!bare.startsWith(prefix)) return undefined;
  const parts = bare.slice(prefix.length).split("-");
  for (let i = parts.length - 2; i >= 0; i--) {
    const p = parts[i]!;
    if (/^[0-9]+$/.test(p)) return Number(p);
  }
  return undefined;
}

/** True when a process with this pid exists (signal 0 probe). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether a host names only this machine (localhost, 127.0.0.0/8, ::1): binding anything else lets other machines connect. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || h === "::ffff:127.0.0.1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
