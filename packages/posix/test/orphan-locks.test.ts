// A socket file's owner holds `<path>.lock` beside it. An owner that died
// after its socket file was unlinked (Node's server.close() does that) but
// before it dropped the lock leaves the lock file alone: removeStale must
// still find and remove it, and never one whose lock is held.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LOCK_SUFFIX, holdOwnerLock, socketFileKind } from "../src/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "ipcs-orphan-locks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("removeStale of socket files", () => {
  const kind = socketFileKind("fs-node", "Unix socket", ".sock");

  it("removes a lock file left without its socket, keeps a held one and one of another kind", () => {
    const orphan = path.join(dir, "ipcs-1-aaaaaa.sock");
    writeFileSync(orphan + LOCK_SUFFIX, "");
    const live = path.join(dir, "ipcs-2-bbbbbb.sock");
    const lock = holdOwnerLock(live + LOCK_SUFFIX, { create: true });
    const other = path.join(dir, "ipcs-3-cccccc.zmq");
    writeFileSync(other + LOCK_SUFFIX, "");
    try {
      // minAgeMs 0: the age guard (ctime, which a test cannot backdate) is the next test's.
      const report = kind.removeStale({ directory: dir, minAgeMs: 0 });
      expect(report.map((e) => [path.basename(e.name), e.outcome])).toEqual([
        ["ipcs-1-aaaaaa.sock", "removed"],
        ["ipcs-2-bbbbbb.sock", "kept"],
      ]);
      expect(existsSync(orphan + LOCK_SUFFIX)).toBe(false);
      expect(existsSync(live + LOCK_SUFFIX)).toBe(true);
      expect(existsSync(other + LOCK_SUFFIX)).toBe(true);
    } finally {
      lock.release(true);
    }
  });

  it("keeps a lock file younger than minAgeMs (an owner between taking its lock and binding)", () => {
    const young = path.join(dir, "ipcs-4-dddddd.sock");
    writeFileSync(young + LOCK_SUFFIX, "");
    expect(kind.removeStale({ directory: dir }).map((e) => e.outcome)).toEqual(["kept"]);
    expect(existsSync(young + LOCK_SUFFIX)).toBe(true);
  });
});
