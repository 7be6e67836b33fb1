import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

/** Tracked files, as git lists them (the checkout under test, not the working tree's strays). */
function trackedFiles(): string[] {
  return execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" }).split("\0").filter(Boolean);
}

describe("the tracked tree", () => {
  it("holds no unresolved merge conflict", () => {
    const found: string[] = [];
    for (const file of trackedFiles()) {
      let text: string;
      try {
        text = readFileSync(join(root, file), "utf8");
      } catch {
        continue; // deleted in the working tree, or not a file
      }
      if (text.includes("\0")) continue; // binary
      text.split("\n").forEach((line, i) => {
        if (/^(<<<<<<<|>>>>>>>) \S/.test(line)) found.push(`${file}:${i + 1}: ${line}`);
      });
    }
    expect(found).toEqual([]);
  });
});
