// What a user gets from the registry: every publishable package under
// packages/*, packed the way it is published, and the example its README
// shows, as files a user would save and run.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PNPM = ["--yes", "pnpm@12.21.0"];

export interface Publishable {
  dir: string;
  name: string;
  manifest: Record<string, any>;
}

/** Every non-private package in packages/*, in name order. */
export function publishablePackages(): Publishable[] {
  const base = path.join(ROOT, "packages");
  return readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(base, e.name, "package.json")))
    .map((e) => {
      const dir = path.join(base, e.name);
      const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
      return { dir, name: manifest.name as string, manifest };
    })
    .filter((p) => !p.manifest.private)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface ReadmeExample {
  /** File name -> contents, from fences written as ```js title="receiver.mjs"```. */
  files: Map<string, string>;
  /** What `node receiver.mjs` prints, from the fence ```text title="output"```, if the README shows it. */
  output: string | undefined;
}

/** The runnable example of a package's README: the files to save and the output it prints. */
export function readmeExample(dir: string): ReadmeExample {
  const readme = readFileSync(path.join(dir, "README.md"), "utf8");
  const files = new Map<string, string>();
  let output: string | undefined;
  for (const m of readme.matchAll(/^```(\w+) title="([^"]+)"\n([\s\S]*?)^```$/gm)) {
    const [, lang, title, body] = m as unknown as [string, string, string, string];
    if (lang === "text" && title === "output") output = body.trimEnd();
    else files.set(title, body);
  }
  return { files, output };
}

/** `pnpm pack` of one package into `destination` (workspace: and catalog: ranges become versions); returns the tarball path. */
export function pack(pkg: Publishable, destination: string): string {
  const out = execFileSync("npx", [...PNPM, "pack", "--pack-destination", destination], { cwd: pkg.dir, encoding: "utf8", env: cleanEnv() });
  const tarball = out.trim().split("\n").reverse().find((l) => l.trim().endsWith(".tgz"));
  if (!tarball) throw new Error(`pnpm pack of ${pkg.name} printed no tarball:\n${out}`);
  return path.resolve(destination, path.basename(tarball.trim()));
}

/** A file of a packed tarball, read with tar. */
export function readFromTarball(tarball: string, file: string): string {
  return execFileSync("tar", ["-xzOf", tarball, `package/${file}`], { encoding: "utf8" });
}

/** The paths inside a packed tarball, without the leading package/. */
export function listTarball(tarball: string): string[] {
  return execFileSync("tar", ["-tzf", tarball], { encoding: "utf8", maxBuffer: 16 << 20 })
    .split("\n")
    .filter(Boolean)
    .map((p) => p.replace(/^package\//, ""));
}

/**
 * The environment of a user's shell: none of the npm_* / pnpm variables that
 * the workspace's own package manager sets for scripts, no NODE_OPTIONS.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_|NODE_OPTIONS$|NODE_PATH$|INIT_CWD$|VITEST)/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
