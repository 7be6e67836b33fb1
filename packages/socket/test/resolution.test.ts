import { realpathSync } from "node:fs";
import { killStartedProcesses, runSnippet } from "@ipc-sampler/core/conformance";
import { afterEach, expect, it } from "vitest";

// A plain stat(2) of a socket file leaves its mode in a buffer Node's module
// resolver reads back (nodejs/node#51142): every import after it stops
// following symlinks, and pnpm's node_modules layout breaks (a package's
// own dependencies are no longer found). The named-resource checks that
// listen, list and removeStale make must leave module resolution alone.

const DIST = new URL("../dist/index.js", import.meta.url).href;
const CORE = realpathSync(new URL("../node_modules/@ipc-sampler/core", import.meta.url));

afterEach(() => killStartedProcesses());

it("imports still follow pnpm's symlinks after a Unix socket is listened on, listed and swept", async () => {
  const p = runSnippet(`
    const { createRequire } = await import("node:module");
    const { udsTransport } = await import(${JSON.stringify(DIST)});
    const r = await udsTransport.listen({ name: "resolution-" + process.pid });
    await udsTransport.named.list();
    await udsTransport.named.removeStale({ dryRun: true, minAgeMs: 0 });
    console.log(createRequire(${JSON.stringify(DIST)}).resolve("@ipc-sampler/core"));
    await r.close();
  `);
  expect(await p.line).toBe(`${CORE}/dist/index.cjs`);
  expect(await p.exit).toBe(0);
});
