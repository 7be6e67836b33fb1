import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import type { FunctionRef } from "./wire.js";

/**
 * Functions cannot cross a process boundary in JavaScript: a target is a
 * module (a URL such as `import.meta.url`, or an absolute path) plus the name
 * of an exported function. The child imports the module and looks the export
 * up; a missing module or export fails start() naming it.
 */
export type ModuleRef = string | URL;

export function moduleUrl(module: ModuleRef): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string" || module.length === 0) throw new TypeError("a target module is a URL (import.meta.url, new URL(...)) or an absolute path");
  if (isAbsolute(module)) return pathToFileURL(module).href;
  try {
    return new URL(module).href;
  } catch {
    throw new TypeError(`target module ${module} is neither a URL nor an absolute path: pass new URL("./file.js", import.meta.url)`);
  }
}

const modules = new Map<string, Promise<Record<string, unknown>>>();

/** Imports a module once per process (a failure is not remembered, so a retry imports again). */
export function loadModule(url: string): Promise<Record<string, unknown>> {
  let m = modules.get(url);
  if (!m) {
    m = (import(url) as Promise<Record<string, unknown>>).catch((err: unknown) => {
      modules.delete(url);
      throw new Error(`cannot load target module ${url}: ${(err as Error)?.message ?? err}`, { cause: err });
    });
    modules.set(url, m);
  }
  return m;
}

export type AnyFunction = (...args: any[]) => unknown;

/** The exported function `name` of `url` (ESM export, or a property of a CJS module's exports). */
export async function loadFunction(url: string, name: string): Promise<AnyFunction> {
  const mod = await loadModule(url);
  const f = mod[name] ?? (mod.default as Record<string, unknown> | undefined)?.[name];
  if (typeof f !== "function") {
    throw new TypeError(`target module ${url} has no exported function named ${name}${f === undefined ? "" : ` (it exports a ${typeof f})`}`);
  }
  return f as AnyFunction;
}

/** Resolves a FunctionRef against the pool's module; remembers what it found. */
export class FunctionTable {
  private readonly found = new Map<string, AnyFunction>();
  constructor(private readonly module: string) {}
  /** Synchronous once a ref has been loaded, so a run of tasks pays no promise. */
  cached(ref: FunctionRef): AnyFunction | undefined {
    return this.found.get(typeof ref === "string" ? ref : `${ref[0]}#${ref[1]}`);
  }
  async resolve(ref: FunctionRef): Promise<AnyFunction> {
    const key = typeof ref === "string" ? ref : `${ref[0]}#${ref[1]}`;
    const f = typeof ref === "string" ? await loadFunction(this.module, ref) : await loadFunction(ref[0], ref[1]);
    this.found.set(key, f);
    return f;
  }
}
