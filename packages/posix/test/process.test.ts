import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { native } from "../src/index.js";

// prctl(PR_SET_PDEATHSIG) is armed in a throw-away child, never in the test runner.
function inChild(code: string): { status: number | null; stdout: string; stderr: string } {
  const loader = new URL("../dist/index.cjs", import.meta.url).pathname;
  const r = spawnSync(process.execPath, ["-e", `const { native } = require(${JSON.stringify(loader)}); ${code}`], { encoding: "utf8", timeout: 10_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("setParentDeathSignal", () => {
  it("validates its arguments before the system call", () => {
    const n = native();
    expect(() => n.setParentDeathSignal(0, 1)).toThrow(RangeError);
    expect(() => n.setParentDeathSignal(1.5, 1)).toThrow(RangeError);
    expect(() => n.setParentDeathSignal(15, 0)).toThrow(RangeError);
    expect(() => n.setParentDeathSignal(15, -3)).toThrow(RangeError);
    expect(() => (n.setParentDeathSignal as unknown as (a: unknown, b: unknown) => boolean)("15", 1)).toThrow(TypeError);
  });

  it("reports whether the parent is still the one expected", () => {
    expect(inChild("console.log(native().setParentDeathSignal(15, process.ppid))").stdout.trim()).toBe("true");
    expect(inChild("console.log(native().setParentDeathSignal(15, process.ppid + 1))").stdout.trim()).toBe("false");
  });
});
