// The publishable packages (every non-private package under packages/* and
// apps/*) and
// how they are packed: used by the release script and by the test that
// installs the tarballs outside the workspace.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const PNPM = ["--yes", "pnpm@12.21.0"];

/** @returns {{ dir: string, folder: string, name: string, manifest: Record<string, any> }[]} every non-private package in packages/* and apps/*, by name */
export function publishablePackages() {
  return ["packages", "apps"]
    .flatMap((group) => {
      const base = path.join(ROOT, group);
      return readdirSync(base, { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(path.join(base, e.name, "package.json")))
        .map((e) => {
          const dir = path.join(base, e.name);
          const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
          return { dir, folder: `${group}/${e.name}`, name: manifest.name, manifest };
        });
    })
    .filter((p) => !p.manifest.private)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * `pnpm pack` of one package into `destination`, as `pnpm publish` packs it
 * (workspace: and catalog: ranges become versions).
 * @returns {string} the tarball's path
 */
export function pack(pkg, destination, env = process.env) {
  const out = execFileSync("npx", [...PNPM, "pack", "--pack-destination", destination], { cwd: pkg.dir, encoding: "utf8", env });
  const tarball = out.trim().split("\n").reverse().find((l) => l.trim().endsWith(".tgz"));
  if (!tarball) throw new Error(`pnpm pack of ${pkg.name} printed no tarball:\n${out}`);
  return path.resolve(destination, path.basename(tarball.trim()));
}

/** @returns {string} a file of a packed tarball */
export function readFromTarball(tarball, file) {
  return execFileSync("tar", ["-xzOf", tarball, `package/${file}`], { encoding: "utf8" });
}

/** @returns {string[]} the paths inside a packed tarball, without the leading package/ */
export function listTarball(tarball) {
  return execFileSync("tar", ["-tzf", tarball], { encoding: "utf8", maxBuffer: 16 << 20 })
    .split("\n")
    .filter(Boolean)
    .map((p) => p.replace(/^package\//, ""));
}
