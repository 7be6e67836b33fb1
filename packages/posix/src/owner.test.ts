import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_PEER_SLOTS, PeerSlotWatcher, claimPeerSlot, holdOwnerLock, holdPeerSlot, lockPeerSlot, peerSlotHeld, unlockPeerSlot } from "./owner.js";

// Open file descriptions, not processes, own OFD locks: two opens of one file
// in this process stand for two processes here.
const dir = mkdtempSync(path.join(tmpdir(), "ipcs-owner-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const open = (file: string) => openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);

describe("peer slots", () => {
  it("claimPeerSlot takes the first free slot, exclusively; a closed descriptor frees it", () => {
    const file = path.join(dir, "claim");
    const [owner, a, b] = [open(file), open(file), open(file)];
    expect(claimPeerSlot(a, 4)).toBe(0);
    expect(claimPeerSlot(b, 4)).toBe(1);
    expect(peerSlotHeld(owner, 0) && peerSlotHeld(owner, 1) && !peerSlotHeld(owner, 2)).toBe(true);
    expect(lockPeerSlot(b, 0)).toBe(false);
    unlockPeerSlot(a, 0);
    expect(peerSlotHeld(owner, 0)).toBe(false);
    closeSync(b);
    expect(peerSlotHeld(owner, 1)).toBe(false);
    expect(claimPeerSlot(a, 1)).toBe(0);
    const c = open(file);
    expect(claimPeerSlot(c, 1)).toBe(-1); // the one slot is held
    for (const fd of [owner, a, c]) closeSync(fd);
  });

  it("checks every slot number it is given", () => {
    const fd = open(path.join(dir, "range"));
    for (const bad of [-1, 1.5, MAX_PEER_SLOTS, Number.NaN]) {
      expect(() => peerSlotHeld(fd, bad)).toThrow(RangeError);
      expect(() => lockPeerSlot(fd, bad)).toThrow(RangeError);
    }
    expect(() => new PeerSlotWatcher(fd).watch(MAX_PEER_SLOTS, () => {})).toThrow(RangeError);
    closeSync(fd);
  });

  it("holdPeerSlot holds a slot of a lock file until release(); the owner's byte stays apart", () => {
    const owner = holdOwnerLock(path.join(dir, "sock.lock"), { create: true });
    const peer = holdPeerSlot(owner.path, 8)!;
    expect(peer.slot).toBe(0);
    expect(peerSlotHeld(owner.fd, 0)).toBe(true);
    peer.release();
    expect(peerSlotHeld(owner.fd, 0)).toBe(false);
    expect(holdPeerSlot(path.join(dir, "missing.lock"), 8)).toBeUndefined();
    owner.release(true);
  });

  it("PeerSlotWatcher calls back once when a watched slot's lock is dropped, and not for a closed watch", async () => {
    const file = path.join(dir, "watch");
    const [owner, a, b] = [open(file), open(file), open(file)];
    expect(claimPeerSlot(a, 2)).toBe(0);
    expect(claimPeerSlot(b, 2)).toBe(1);
    const watcher = new PeerSlotWatcher(owner, 20);
    const gone: number[] = [];
    watcher.watch(0, () => gone.push(0));
    const closed = watcher.watch(1, () => gone.push(1));
    await new Promise((r) => setTimeout(r, 60));
    expect(gone).toEqual([]);
    closed.close();
    closeSync(a);
    closeSync(b);
    await new Promise((r) => setTimeout(r, 80));
    expect(gone).toEqual([0]);
    watcher.close();
    closeSync(owner);
  });
});
