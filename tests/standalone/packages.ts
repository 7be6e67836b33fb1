// What a user gets from the registry: the packed packages (scripts/packages.mjs),
// the example each README shows as files a user would save and run, and
// the environment of a user's shell.
import { readFileSync } from "node:fs";
import path from "node:path";

export { listTarball, pack, PNPM, publishablePackages, readFromTarball, ROOT } from "../../scripts/packages.mjs";

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
