import { describe, expect, it } from "vitest";
import { ChannelError, attachWithRetry } from "../src/index.js";

const absentUntil = (n: number) => {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    attempt: () => {
      calls++;
      if (calls <= n) throw Object.assign(new Error("not there yet"), { code: "ENOENT" });
      return "attached";
    },
  };
};
const options = (timeoutMs: number) => ({
  timeoutMs,
  absent: (err: unknown) => ((err as { code?: string }).code === "ENOENT" ? "ENOENT" : undefined),
  timedOut: (code: string, err: unknown) => new ChannelError("ETIMEDOUT", `gave up (${code})`, { errno: code, cause: err }),
});

describe("attachWithRetry", () => {
  it("retries while the receiver is absent, then returns what the attempt made", async () => {
    const a = absentUntil(3);
    expect(await attachWithRetry(a.attempt, options(2000))).toBe("attached");
    expect(a.calls).toBe(4);
  });

  it("gives up with the timed-out error once the time is spent, not long after", async () => {
    const a = absentUntil(Infinity);
    const t0 = Date.now();
    const err = await attachWithRetry(a.attempt, options(300)).catch((e: unknown) => e);
    const took = Date.now() - t0;
    expect(err).toMatchObject({ name: "ChannelError", code: "ETIMEDOUT", errno: "ENOENT" });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1000);
    // Backoff: far fewer attempts than a busy loop would make.
    expect(a.calls).toBeGreaterThan(3);
    expect(a.calls).toBeLessThan(20);
  });

  it("throws any other failure at once, through `failed` when given", async () => {
    let calls = 0;
    const attempt = async () => {
      calls++;
      throw Object.assign(new Error("denied"), { code: "EACCES" });
    };
    await expect(attachWithRetry(attempt, options(1000))).rejects.toMatchObject({ code: "EACCES" });
    await expect(attachWithRetry(attempt, { ...options(1000), failed: () => new ChannelError("EACCES", "wrapped") })).rejects.toMatchObject({ name: "ChannelError", message: "wrapped" });
    expect(calls).toBe(2);
  });
});
