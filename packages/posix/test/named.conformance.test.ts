// The named-resource lifecycle (core's conformance kit) for every kind this
// package supplies. Owner and cleaner processes import the built dist.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { runNamedKindConformance } from "@ipc-sampler/core/conformance";
import { fileNodes, journals, mountMqueue, queues, segments, semaphores } from "../src/index.js";

const DIST = new URL("../dist/index.js", import.meta.url);
const dir = mkdtempSync(path.join(tmpdir(), "ipcs-named-"));
// The kit removes what it made; the directory goes after every test of this file.
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runNamedKindConformance({ kind: segments, module: DIST, exportName: "segments", createOptions: { size: 4096 } });
runNamedKindConformance({ kind: semaphores, module: DIST, exportName: "semaphores" });
runNamedKindConformance({ kind: fileNodes, module: DIST, exportName: "fileNodes", createOptions: { directory: dir } });
runNamedKindConformance({ kind: journals, module: DIST, exportName: "journals", createOptions: { directory: dir } });

// Linux lists queues only through a mounted mqueue file system: mount one
// where this process may (root), else skip the checks that list, saying why.
const mount = mountMqueue();
const noMount = "reason" in mount ? mount.reason : undefined;
if (noMount) console.warn(`[named.conformance] queue listing skipped: ${noMount}`);
runNamedKindConformance({
  kind: queues,
  module: DIST,
  exportName: "queues",
  createOptions: { maxMessages: 4, messageSize: 64 },
  skipList: noMount,
});
