#!/usr/bin/env node
// Compiles the C references with the system C compiler ($CC, else cc) into
// bench/reference/c/build/ipc-ref. Rebuilds only when a source is newer than
// the binary (or with --force). Prints one JSON line: {ok, binary, built, error?}.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const C_DIR = join(HERE, "c");
export const BUILD_DIR = join(C_DIR, "build");
export const BINARY = join(BUILD_DIR, "ipc-ref");
export const CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra"];
const LIBS = ["-lrt", "-lpthread"];

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
}

/** Compiles the C references; returns {ok, binary, built, error?}. Never throws. */
export function buildC({ force = false } = {}) {
  const sources = readdirSync(C_DIR).filter((f) => f.endsWith(".c")).sort().map((f) => join(C_DIR, f));
  const inputs = [...sources, join(C_DIR, "ref.h"), fileURLToPath(import.meta.url)];
  const bin = mtime(BINARY);
  if (!force && bin > 0 && inputs.every((f) => mtime(f) <= bin)) return { ok: true, binary: BINARY, built: false };
  const cc = process.env.CC || "cc";
  mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${BINARY}.${process.pid}.tmp`;
  try {
    execFileSync(cc, [...CFLAGS, "-o", tmp, ...sources, ...LIBS], { stdio: ["ignore", "pipe", "pipe"] });
    renameSync(tmp, BINARY); // atomic: a concurrent build never leaves a half-written binary
    return { ok: true, binary: BINARY, built: true };
  } catch (err) {
    rmSync(tmp, { force: true });
    const detail = err.code === "ENOENT" ? `C compiler "${cc}" not found` : String(err.stderr || err.message).trim();
    return { ok: false, binary: BINARY, built: false, error: `cannot build the C references: ${detail}` };
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = buildC({ force: process.argv.includes("--force") });
  process.stdout.write(JSON.stringify(r) + "\n");
  process.exitCode = r.ok ? 0 : 1;
}
