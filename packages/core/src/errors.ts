/**
 * Stable error codes. Codes that mirror an errno keep the errno's name; the
 * others describe a channel-level condition no single errno captures.
 */
export type ChannelErrorCode =
  | "EMSGSIZE" // message larger than the channel carries
  | "EPEERGONE" // the other end went away (closed, crashed, killed)
  | "ECLOSED" // this end was closed by its owner
  | "EEXIST" // a named resource exists already
  | "ENOENT" // a named resource does not exist
  | "EINVALIDNAME" // a resource name is malformed
  | "ETIMEDOUT" // a wait ran past its deadline
  | "EPROTO" // bytes on the wire do not form a valid frame
  | "EACCES" // permission denied by the operating system
  | "EPERM" // this handle may not do that (releasing a lock it does not hold)
  | "EBUSY" // one at a time: another wait or consumer is already active
  | "ELIMIT" // an operating-system limit refused the request
  | "EUNSUPPORTED" // the machine cannot run this mechanism
  | "ESYSCALL"; // any other failed system call (see errno)

export interface ChannelErrorOptions {
  /** errno name from the operating system, e.g. `EPIPE`. */
  errno?: string | undefined;
  /** Numeric errno, negative as in libuv, when known. */
  errnoNumber?: number | undefined;
  /** The system call that failed, e.g. `mq_open`. */
  syscall?: string | undefined;
  /** Name or path of the resource involved, e.g. `/ipcs-orders`. */
  resource?: string | undefined;
  /** Producer index on the receiving side, when the error is about one producer. */
  producer?: number | undefined;
  cause?: unknown;
}

/**
 * The one error class of ipc-sampler. Shaped like Node's system errors:
 * `code` is stable and meant for programs, `message` reads as a sentence.
 */
export class ChannelError extends Error {
  override readonly name = "ChannelError";
  readonly code: ChannelErrorCode;
  readonly errno: string | undefined;
  readonly errnoNumber: number | undefined;
  readonly syscall: string | undefined;
  readonly resource: string | undefined;
  readonly producer: number | undefined;

  constructor(code: ChannelErrorCode, message: string, options: ChannelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = options.errno;
    this.errnoNumber = options.errnoNumber;
    this.syscall = options.syscall;
    this.resource = options.resource;
    this.producer = options.producer;
  }

  static is(value: unknown, code?: ChannelErrorCode): value is ChannelError {
    return value instanceof ChannelError && (code === undefined || value.code === code);
  }
}

const errnoToCode: Record<string, ChannelErrorCode> = {
  EEXIST: "EEXIST",
  ENOENT: "ENOENT",
  EMSGSIZE: "EMSGSIZE",
  EPIPE: "EPEERGONE",
  ECONNRESET: "EPEERGONE",
  ECONNREFUSED: "EPEERGONE",
  ENXIO: "EPEERGONE",
  ETIMEDOUT: "ETIMEDOUT",
  EACCES: "EACCES",
  EPERM: "EACCES",
  EMFILE: "ELIMIT",
  ENFILE: "ELIMIT",
  ENOSPC: "ELIMIT",
  ENOMEM: "ELIMIT",
  ENAMETOOLONG: "EINVALIDNAME",
  EINVAL: "ESYSCALL",
};

/**
 * Wraps an operating-system failure (a Node system error, or an object with
 * `code`/`errno`/`syscall` from the native layer) into a ChannelError.
 * `action` completes the sentence "cannot <action>".
 */
export function fromSystemError(err: unknown, action: string, resource?: string): ChannelError {
  if (err instanceof ChannelError) return err;
  const e = err as { code?: unknown; errno?: unknown; syscall?: unknown; message?: unknown };
  const errno = typeof e?.code === "string" ? e.code : undefined;
  const code = (errno && errnoToCode[errno]) || "ESYSCALL";
  const reason = errno ? describeErrno(errno) : String(e?.message ?? err);
  const where = resource ? ` ${resource}` : "";
  return new ChannelError(code, `cannot ${action}${where}: ${reason}`, {
    errno,
    errnoNumber: typeof e?.errno === "number" ? e.errno : undefined,
    syscall: typeof e?.syscall === "string" ? e.syscall : undefined,
    resource,
    cause: err,
  });
}

function describeErrno(errno: string): string {
  switch (errno) {
    case "EEXIST": return "it already exists";
    case "ENOENT": return "it does not exist";
    case "EACCES": case "EPERM": return "permission denied";
    case "EPIPE": case "ECONNRESET": return "the other end went away";
    case "ECONNREFUSED": return "nobody is listening";
    case "EMFILE": case "ENFILE": return "too many open files";
    case "ENOSPC": return "an operating-system limit was reached (ENOSPC)";
    case "ENOMEM": return "out of memory or over a kernel limit (ENOMEM)";
    case "ENAMETOOLONG": return "the name is too long";
    case "EMSGSIZE": return "the message is too large";
    case "ETIMEDOUT": return "timed out";
    default: return errno;
  }
}
