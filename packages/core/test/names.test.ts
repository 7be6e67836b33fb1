import { describe, expect, it } from "vitest";
import { ChannelError, ownerPidOf, posixName, uniqueName, validateName } from "../src/index.js";

describe("resource names", () => {
  it("accepts plain names and adds the one leading slash POSIX wants", () => {
    expect(validateName("orders-1.q")).toBe("orders-1.q");
    expect(posixName("orders")).toBe("/orders");
    expect(posixName("/orders")).toBe("/orders");
  });

  it.each([["", "non-empty"], ["..", '".."'], ["a/../b", '".."'], ["a/b", '"/"'], ["a b", "letters"], ["x".repeat(300), "longer than"]])(
    "rejects %j with EINVALIDNAME",
    (name, hint) => {
      let err: unknown;
      try {
        validateName(name);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ChannelError);
      expect((err as ChannelError).code).toBe("EINVALIDNAME");
      expect((err as ChannelError).message).toContain(hint);
    },
  );

  it("rejects a second slash in a POSIX name", () => {
    expect(() => posixName("/a/b")).toThrow(/"\/" is not allowed/);
  });

  it("makes unique names that carry the owner's pid", () => {
    const a = uniqueName("ipcs-", "ring");
    const b = uniqueName("ipcs-", "ring");
    expect(a).not.toBe(b);
    expect(ownerPidOf(a, "ipcs-")).toBe(process.pid);
    expect(ownerPidOf("/" + b, "ipcs-")).toBe(process.pid);
    expect(ownerPidOf("other-1-2", "ipcs-")).toBeUndefined();
  });
});
