#!/usr/bin/env node
// pnpm release [--dry-run]
// 1. builds every package;
// 2. makes the prebuilt binaries (`prebuilds` scripts) for every Node major
//    the root package.json's engines name, fetching the other node binaries
//    from the npm registry (the `node` package, which carries the headers);
// 3. checks the shared package metadata;
// 4. --dry-run: prints the pending version bumps (changeset status) and every
//    tarball `pnpm publish` would upload: its files, size and dependencies
//    (workspace: and catalog: ranges replaced by versions), then lets
//    `pnpm publish --dry-run` check the registry side; otherwise publishes
//    with `changeset publish`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { listTarball, pack, PNPM, publishablePackages, readFromTarball, ROOT as root } from "./packages.mjs";

const dryRun = process.argv.includes("--dry-run");
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1" };

function step(title, cmd, args, { allowFailure = false } = {}) {
  console.log(`\n== ${title}\n$ ${[cmd, ...args].join(" ")}`);
  try {
    execFileSync(cmd, args, { cwd: root, env, stdio: "inherit" });
  } catch (err) {
    if (!allowFailure) process.exit(err.status ?? 1);
  }
}

const engines = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).engines.node;
const majors = [...engines.matchAll(/\^(\d+)\./g)].map((m) => Number(m[1]));
const running = Number(process.versions.node.split(".")[0]);
if (!majors.includes(running)) {
  console.error(`release: run this with one of the supported Node majors (${majors.join(", ")}); this is ${process.version}`);
  process.exit(1);
}
const others = majors.filter((m) => m !== running).map((m) => nodeFromRegistry(m));

/**
 * A node binary of this major from the npm registry's `node` package,
 * installed (not run through npx) so that its headers come with it:
 * <tmp>/ipc-sampler-node-<major>/node_modules/node/bin/node.
 */
function nodeFromRegistry(major) {
  const prefix = path.join(tmpdir(), `ipc-sampler-node-${major}`);
  const bin = path.join(prefix, "node_modules", "node", "bin", "node");
  execFileSync("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", `node@${major}`], { cwd: root, stdio: "ignore" });
  console.log(`node ${major}: ${bin}`);
  return realpathSync(bin);
}

step("build", "npx", ["turbo", "run", "build", "--output-logs=errors-only"]);
step(`prebuilt binaries for Node ${majors.join(", ")}`, "npx", [...PNPM, "-r", "--if-present", "run", "prebuilds", ...others]);
step("package metadata", process.execPath, [path.join(root, "scripts", "package-metadata.mjs"), "--check"]);
if (dryRun) {
  step("pending version bumps", "npx", ["changeset", "status", "--verbose"], { allowFailure: true });
  console.log("\n== the tarballs");
  const out = mkdtempSync(path.join(tmpdir(), "ipcs-release-"));
  for (const pkg of publishablePackages()) {
    const tarball = pack(pkg, out);
    const files = listTarball(tarball);
    const manifest = JSON.parse(readFromTarball(tarball, "package.json"));
    const deps = Object.entries(manifest.dependencies ?? {}).map(([n, v]) => `${n}@${v}`);
    const native = files.filter((f) => f.endsWith(".node"));
    console.log(`${manifest.name}@${manifest.version}  ${files.length} files, ${(statSync(tarball).size / 1024).toFixed(0)} KiB packed`);
    console.log(`  dependencies: ${deps.join(", ") || "none"}`);
    if (native.length > 0) console.log(`  prebuilt: ${native.join(", ")}`);
  }
  rmSync(out, { recursive: true, force: true });
  step("what pnpm publish would do", "npx", [...PNPM, "-r", "publish", "--dry-run", "--no-git-checks", "--access", "public"]);
} else {
  step("publish", "npx", ["changeset", "publish"]);
}
