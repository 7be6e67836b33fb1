import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const DIST = new URL("../dist/index.js", import.meta.url).href;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("fdIsFifo, pathIsFifo, pathIsSocket", () => {
  it("tell FIFOs and sockets apart, and leave module resolution through symlinks intact afterwards (nodejs/node#51142)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ipcs-kind-"));
    dirs.push(dir);
    const fifo = path.join(dir, "f.fifo");
    execFileSync("mkfifo", ["-m", "600", fifo]);
    // A package reached through a symlink, as pnpm lays node_modules out.
    mkdirSync(path.join(dir, "store", "dep"), { recursive: true });
    writeFileSync(path.join(dir, "store", "dep", "index.js"), "module.exports = 1;\n");
    mkdirSync(path.join(dir, "store", "first"), { recursive: true });
    writeFileSync(path.join(dir, "store", "first", "index.js"), "module.exports = 0;\n");
    mkdirSync(path.join(dir, "app", "node_modules"), { recursive: true });
    symlinkSync(path.join(dir, "store", "dep"), path.join(dir, "app", "node_modules", "dep"));
    symlinkSync(path.join(dir, "store", "first"), path.join(dir, "app", "node_modules", "first"));
    const script = `
      const { fdIsFifo, pathIsFifo, pathIsSocket } = await import(${JSON.stringify(DIST)});
      const { openSync, constants } = await import("node:fs");
      const { createServer } = await import("node:net");
      const { createRequire } = await import("node:module");
      const [fifo, sock, app] = process.argv.slice(1);
      const server = createServer();
      await new Promise((r) => server.listen(sock, r));
      const req = createRequire(app + "/main.js");
      // Resolving once fills the resolver's cache of directories known to be real,
      // the state in which it consults the stat buffer instead of calling lstat.
      req.resolve("first");
      const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      // The FIFO last: the stat buffer would hold its mode if these used it.
      const kinds = [fdIsFifo(0), pathIsFifo(sock), pathIsSocket(sock), pathIsSocket(fifo), pathIsFifo(fifo), fdIsFifo(fd)];
      const resolved = req.resolve("dep");
      server.close();
      console.log(JSON.stringify({ kinds, resolved }));
    `;
    const out = spawnSync(process.execPath, ["--input-type=module", "-e", script, fifo, path.join(dir, "s.sock"), path.join(dir, "app")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 20_000,
    });
    expect(out.status, out.stderr).toBe(0);
    const r = JSON.parse(out.stdout) as { kinds: boolean[]; resolved: string };
    expect(r.kinds).toEqual([false, false, true, false, true, true]); // stdin is /dev/null here
    expect(r.resolved).toBe(path.join(dir, "store", "dep", "index.js"));
  });
});
