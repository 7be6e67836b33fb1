import { describe, expect, it } from "vitest";
import { runSharedStateSection } from "../src/bench-shared-state.js";

// The shared-state section on a machine without python3 and cc: our rows
// still come, and each empty column says why (never a silent pass).
describe("bench shared-state section", () => {
  it("reports its rows and why the Python and C columns are empty when python3 and cc are missing", async () => {
    const saved = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const section = await runSharedStateSection(true, () => {});
      expect(section.skipped).toBeUndefined();
      expect(section.error).toBeUndefined();
      expect(section.pythonSkipped).toBe("python3 is not installed");
      expect(section.cSkipped).toBe("cc is not installed");
      const cases = section.rows.map((r) => r.case);
      expect(cases).toEqual(expect.arrayContaining(["queue put/get 1→1, v8 codec", "queue put/get 4→2, v8 codec", "Value += 1 under its lock, 1 process", "Event set → wait wake-up (one way)"]));
      for (const r of section.rows) expect(r.ok && r.ours! > 0 && r.python === undefined && r.vsC === undefined, JSON.stringify(r)).toBe(true);
    } finally {
      process.env.PATH = saved;
    }
  }, 180_000);
});
