import { constants } from "node:os";
import { ChannelError } from "@ipc-sampler/core";

const signalNumbers = constants.signals as unknown as Record<string, number>;

/**
 * Faithful errors across processes: class name, message, stack, `cause`
 * chain, AggregateError's `errors` and own enumerable fields travel as a
 * plain record; the receiving side rebuilds built-in classes and classes
 * registered with `registerErrorClass` as themselves (the class must be
 * registered in both processes, e.g. at the top of the module that defines it).
 */
export interface ErrorRecord {
  readonly $error: true;
  name: string;
  message: string;
  stack?: string | undefined;
  cause?: unknown;
  errors?: unknown[];
  fields: Record<string, unknown>;
}

type ErrorClass = new (...args: any[]) => Error;
// One registry per process, whichever copy of this package (ESM, CJS) registers.
const REGISTRY = Symbol.for("ipc-sampler.process.errors");
const registry: Map<string, ErrorClass> = ((globalThis as Record<symbol, unknown>)[REGISTRY] as Map<string, ErrorClass> | undefined) ?? new Map();
(globalThis as Record<symbol, unknown>)[REGISTRY] = registry;
const builtins: Record<string, ErrorClass> = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError, ChannelError };

/** Rebuilds errors named `name` (default: the class's name) as instances of `cls`. */
export function registerErrorClass(cls: ErrorClass, name = cls.name): void {
  registry.set(name, cls);
}

const MAX_DEPTH = 8;

/** A value, with errors (at any depth of cause/errors) turned into records. */
export function encodeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error) || depth > MAX_DEPTH) return value;
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    if (key === "cause" || key === "errors" || key === "name" || key === "message" || key === "stack") continue;
    fields[key] = (value as unknown as Record<string, unknown>)[key];
  }
  const record: ErrorRecord = { $error: true, name: value.name, message: value.message, stack: value.stack, fields };
  if ("cause" in value) record.cause = encodeError(value.cause, depth + 1);
  if (value instanceof AggregateError) record.errors = value.errors.map((e) => encodeError(e, depth + 1));
  return record;
}

function isRecord(value: unknown): value is ErrorRecord {
  return typeof value === "object" && value !== null && (value as ErrorRecord).$error === true && typeof (value as ErrorRecord).name === "string";
}

/** The inverse of encodeError. */
export function decodeError(value: unknown, depth = 0): unknown {
  if (!isRecord(value) || depth > MAX_DEPTH) return value;
  const cls = registry.get(value.name) ?? builtins[value.name];
  const error: Error = cls ? Object.create(cls.prototype) : new Error(value.message);
  Object.defineProperty(error, "message", { value: String(value.message), writable: true, configurable: true });
  Object.defineProperty(error, "stack", { value: value.stack, writable: true, configurable: true });
  if (!cls || error.name !== value.name) Object.defineProperty(error, "name", { value: value.name, writable: true, configurable: true });
  if ("cause" in value) Object.defineProperty(error, "cause", { value: decodeError(value.cause, depth + 1), writable: true, configurable: true });
  if (value.errors) Object.defineProperty(error, "errors", { value: value.errors.map((e) => decodeError(e, depth + 1)), writable: true, configurable: true });
  const fields = value.fields && typeof value.fields === "object" ? value.fields : {};
  for (const [k, v] of Object.entries(fields)) (error as unknown as Record<string, unknown>)[k] = v;
  return error;
}

/** An error with name "AbortError" and code ABORT_ERR, as Node's own APIs reject with. */
export function abortError(what: string, reason?: unknown): Error {
  const err = new Error(`${what} was aborted`, reason === undefined ? undefined : { cause: reason });
  err.name = "AbortError";
  (err as Error & { code: string }).code = "ABORT_ERR";
  return err;
}

export function timedOut(what: string, ms: number): ChannelError {
  return new ChannelError("ETIMEDOUT", `${what} did not finish within ${ms} ms`);
}

export function closedError(what: string): ChannelError {
  return new ChannelError("ECLOSED", `cannot use ${what}: it is closed`);
}

/** Exit code of a child the way Python reports it: the code, or minus the signal number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  if (signal !== null) {
    const n = signalNumbers[signal];
    return n === undefined ? null : -n;
  }
  return null;
}

/**
 * A worker or child process ended while it ran a task: EPEERGONE, naming
 * the worker, its pid and its exit code or signal.
 */
export class WorkerLostError extends ChannelError {
  readonly worker: string;
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  constructor(worker: string, pid: number | undefined, code: number | null, signal: NodeJS.Signals | null, task: string, lost?: string) {
    const how = lost !== undefined ? `was lost (${lost})` : signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
    super("EPEERGONE", `${worker} (pid ${pid ?? "?"}) ${how} while running ${task}`, { resource: worker });
    Object.defineProperty(this, "name", { value: "WorkerLostError" });
    this.worker = worker;
    this.pid = pid;
    this.exitCode = exitCodeOf(code, signal);
    this.signal = signal;
  }
}
