// mmap-io is built from a copy of its source (vendor/mmap-io): the copy must
// be mmap-io 1.1.7's own, byte for byte, as the npm tarball has it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createSegment, pageSize } from "../src/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const vendored = path.resolve(here, "../vendor/mmap-io");
const upstream = path.dirname(createRequire(import.meta.url).resolve("mmap-io/package.json"));

describe("vendored mmap-io", () => {
  it("is mmap-io 1.1.7's source and license, unchanged", () => {
    expect(JSON.parse(readFileSync(path.join(upstream, "package.json"), "utf8")).version).toBe("1.1.7");
    for (const file of ["src/mmap-io.cc", "LICENSE"]) {
      expect(readFileSync(path.join(vendored, file)).equals(readFileSync(path.join(upstream, file))), file).toBe(true);
    }
  });

  it("keeps mmap-io's API: map, sync with its defaults, PAGESIZE", () => {
    expect(pageSize()).toBeGreaterThanOrEqual(4096);
    const name = `ipcs-test-vendor-${process.pid}`;
    const seg = createSegment(name, 4096);
    try {
      seg.buffer.writeUInt32LE(0xfeedface, 0);
      seg.sync();
      seg.sync(0, 8, false);
      expect(readFileSync(seg.path).readUInt32LE(0)).toBe(0xfeedface);
    } finally {
      seg.close();
      seg.unlink();
    }
  });
});
