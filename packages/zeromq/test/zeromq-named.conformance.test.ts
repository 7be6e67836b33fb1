// The named-resource lifecycle (core's conformance kit) for ZeroMQ ipc socket
// files: owner and cleaner processes import the built dist.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { runNamedKindConformance } from "@ipc-sampler/core/conformance";
import { zeromqIpcFiles } from "../src/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "ipcs-zmqnamed-"));
// The kit removes what it made; the directory goes after every test of this file.
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runNamedKindConformance({ kind: zeromqIpcFiles, module: new URL("../dist/index.js", import.meta.url), exportName: "zeromqIpcFiles", createOptions: { directory: dir } });
