#!/usr/bin/env python3
"""Reference: Python's multiprocessing, the ipc-sampler scenario between real processes.

    python3 mp_ref.py <queue|pipe|shm-blocking|shm-spin> --producers P --messages M --size S [--timeout SECONDS]

queue ("python-queue"): one multiprocessing.Queue shared by every producer;
    put(bytes) / get(). Bounded (maxsize = min(1000, 64 MiB / S), at least 2) so a
    producer cannot run unboundedly ahead of the consumer.
pipe ("python-pipe"): one multiprocessing.Pipe(duplex=False) per producer;
    send_bytes() / recv_bytes(), the consumer waits on all of them with
    multiprocessing.connection.wait().
shm-blocking ("python-shm-blocking") and shm-spin ("python-shm-spin"): one
    multiprocessing.shared_memory.SharedMemory block holding a ring of
    fixed-size slots per producer (single producer, single consumer). A
    producer copies each message into its next slot and then stores the
    ring's head; the consumer verifies messages in place (a memoryview into
    the block, no copy) and stores the tail. blocking: a Semaphore of free
    slots per ring and one Semaphore counting published messages, acquired
    per message, as the bounded-buffer pattern is written with
    multiprocessing; spin: no semaphore, each side polls the other's counter
    (os.sched_yield() every 1024 empty polls, so a shared CPU still makes
    progress) and the consumer drains every published message per look.
    head and tail are aligned 8-byte words stored through a memoryview: one
    store each, which x86's store order publishes after the slot's bytes.

Messages are bytes in the scenario format (32-byte little-endian header packed
with struct, then the payload). The consumer verifies per-producer order, no
gap or duplicate, every checksum and the total; it checksums with numpy when
the payload is large and numpy is importable, else with struct and
built-ins (see checksum32). Producers
end with an empty message. Prints exactly one JSON line.
"""
import json
import multiprocessing as mp
import multiprocessing.connection as mpc
import operator
import os
import resource
import signal
import struct
import sys
import time

HEADER = struct.Struct("<IIddII")
HEADER_BYTES = 32
MASK = 0xFFFFFFFF
K_GOLD = 0x9E3779B1
K_MUL = 0x85EBCA77
MAX_SAMPLES = 1 << 20

try:
    import numpy as np
except ImportError:  # pure Python then
    np = None


def mix_word(w, i):
    return ((w ^ (((i + 1) * K_GOLD) & MASK)) * K_MUL) & MASK


_keys = []  # (i + 1) * K_GOLD mod 2**32 for word i
_np_keys = None
_structs = {}


def checksum32(buf, off, length):
    """checksum32 of buf[off:off+length]: sum of mix(word, index) + length, mod 2**32.

    mix(w, i) = (w ^ key_i) * K_MUL, and a sum of products by one constant is
    that constant times the sum, so this computes K_MUL * sum(w ^ key_i) (the
    same value, every word read) with the per-word work in C.
    """
    global _np_keys
    whole = length >> 2
    if len(_keys) < whole:
        _keys.extend(((i + 1) * K_GOLD) & MASK for i in range(len(_keys), whole))
    if np is not None and whole >= 64:
        if _np_keys is None or len(_np_keys) < whole:
            _np_keys = np.array(_keys, dtype=np.uint32)
        w = np.frombuffer(buf, dtype="<u4", count=whole, offset=off)
        xsum = int(np.bitwise_xor(w, _np_keys[:whole]).sum(dtype=np.uint64))
    else:
        st = _structs.get(whole)
        if st is None:
            st = _structs[whole] = struct.Struct("<%dI" % whole)
        xsum = sum(map(operator.xor, st.unpack_from(buf, off), _keys))
    total = xsum * K_MUL
    rest = length & 3
    if rest:
        w = int.from_bytes(bytes(buf[off + 4 * whole : off + length]), "little")
        total += mix_word(w, whole)
    return (total + length) & MASK


def expected_total(producers, messages):
    full, rest = divmod(messages, 100)
    return (full * 5050 + rest * (rest + 1) // 2) * producers


class Encoder:
    """A producer's messages from one template, patched per sequence number (as ScenarioEncoder).

    patch() updates the template in place and returns it (for a caller that
    copies it somewhere itself); encode() returns a copy as bytes.
    """

    def __init__(self, pid, size):
        self.pid, self.size, self.plen = pid, size, size - HEADER_BYTES
        msg = bytearray(size)
        x = ((pid + 1) * 0x2545F491) & MASK
        for i in range(HEADER_BYTES, size):
            x ^= (x << 13) & MASK
            x ^= x >> 17
            x ^= (x << 5) & MASK
            msg[i] = x & 0xFF
        self.msg = msg
        self.rest = 0
        if self.plen > 8:
            self.rest = (checksum32(msg, HEADER_BYTES, self.plen) - self.plen
                         - mix_word(struct.unpack_from("<I", msg, 32)[0], 0)
                         - mix_word(struct.unpack_from("<I", msg, 36)[0], 1)) & MASK

    def encode(self, seq):
        return bytes(self.patch(seq))

    def patch(self, seq):
        m, n = self.msg, self.plen
        if n >= 8:
            w0 = (seq & MASK) ^ 0x5BD1E995
            w1 = (self.pid ^ (seq >> 32)) & MASK
            struct.pack_into("<II", m, HEADER_BYTES, w0, w1)
            s = (mix_word(w0, 0) + mix_word(w1, 1) + self.rest + n) & MASK
        else:
            for i in range(n):
                m[HEADER_BYTES + i] = (seq + i) & 0xFF
            s = checksum32(m, HEADER_BYTES, n)
        HEADER.pack_into(m, 0, self.pid, n, float(seq), float(time.monotonic_ns()), s, seq % 100 + 1)
        return m


class Verifier:
    def __init__(self, producers, messages, size):
        self.producers, self.messages, self.size = producers, messages, size
        self.expected = producers * messages
        self.next = [0] * producers
        self.stride = max(1, -(-self.expected // MAX_SAMPLES))
        self.samples = []
        self.seen = 0
        self.received = 0
        self.total = 0
        self.problems = []
        self.nproblems = 0

    def problem(self, detail):
        self.nproblems += 1
        if len(self.problems) < 5:
            self.problems.append(detail)
        return False

    def check(self, m, now):
        self.received += 1
        if len(m) != self.size:
            return self.problem("size: message %d is %d bytes, expected %d" % (self.received, len(m), self.size))
        p, plen, seq, t, s, v = HEADER.unpack_from(m, 0)
        if p >= self.producers:
            return self.problem("producer: unknown producer id %d" % p)
        if plen != len(m) - HEADER_BYTES:
            return self.problem("length: producer %d: header says %d payload bytes" % (p, plen))
        want = self.next[p]
        if seq != want:
            kind = "gap" if seq > want else ("duplicate" if seq == want - 1 else "reorder")
            if seq > want:
                self.next[p] = int(seq) + 1
            return self.problem("%s: producer %d got sequence %d, expected %d" % (kind, p, seq, want))
        self.next[p] = want + 1
        if checksum32(m, HEADER_BYTES, plen) != s:
            return self.problem("checksum: producer %d sequence %d: checksum mismatch" % (p, seq))
        self.total += v
        if self.seen % self.stride == 0 and len(self.samples) < MAX_SAMPLES:
            self.samples.append(now - t)
        self.seen += 1
        return True

    def report(self):
        for p in range(self.producers):
            if self.next[p] < self.messages:
                self.problem("missing: producer %d: %d messages never arrived" % (p, self.messages - self.next[p]))
        want = expected_total(self.producers, self.messages)
        if self.total != want:
            self.problem("total: %d, expected %d" % (self.total, want))
        s = sorted(self.samples)

        def pct(q):
            return s[min(len(s) - 1, int(q * len(s)))] / 1000 if s else 0

        ok = self.nproblems == 0 and self.received == self.expected
        return ok, pct(0.5), pct(0.99)


def producer_queue(pid, o, q, barrier):
    enc = Encoder(pid, o["size"])
    barrier.wait()
    for seq in range(o["messages"]):
        q.put(enc.encode(seq))
    q.put(b"")
    q.close()
    q.join_thread()


def producer_pipe(pid, o, conn, barrier):
    enc = Encoder(pid, o["size"])
    barrier.wait()
    for seq in range(o["messages"]):
        conn.send_bytes(enc.encode(seq))
    conn.send_bytes(b"")
    conn.close()


# ---- shared-memory ring -----------------------------------------------------
#
# Block layout: a header page with one 128-byte line pair per producer (head,
# written by the producer, at byte 128 * p; tail, written by the consumer, at
# 128 * p + 64), then one ring per producer of `slots` slots of `slot` bytes.
# A slot is a u64 length (0: the producer's end) and the message.
RING_HEADER = 4096
YIELD_EVERY = 1024


def ring_geometry(size):
    slot = (8 + size + 63) & ~63
    return slot, max(4, min(1024, (8 << 20) // slot))


def ring_base(pid, size):
    slot, slots = ring_geometry(size)
    return RING_HEADER + pid * slots * slot


def producer_shm(pid, o, shm, barrier, items, space):
    size = o["size"]
    slot, slots = ring_geometry(size)
    base = ring_base(pid, size)
    buf = shm.buf
    q = buf.cast("Q")
    hi, ti = pid * 16, pid * 16 + 8
    enc = Encoder(pid, size)
    spin = items is None
    barrier.wait()
    head = tail = 0
    for seq in range(o["messages"] + 1):
        if spin:
            polls = 0
            while head - tail >= slots:
                tail = q[ti]
                polls += 1
                if polls % YIELD_EVERY == 0:
                    os.sched_yield()
        else:
            space.acquire()
        off = base + (head % slots) * slot
        if seq < o["messages"]:
            buf[off + 8 : off + 8 + size] = enc.patch(seq)
            q[off >> 3] = size
        else:
            q[off >> 3] = 0
        head += 1
        q[hi] = head
        if not spin:
            items.release()
    q.release()
    buf.release()
    shm.close()


def consume_shm(o, shm, ver, items, spaces, mark_end):
    """Verifies every producer's ring until each has sent its end; returns when done."""
    P, size = o["producers"], o["size"]
    slot, slots = ring_geometry(size)
    buf = shm.buf
    q = buf.cast("Q")
    bases = [ring_base(p, size) for p in range(P)]
    tails = [0] * P
    live = list(range(P))
    check = ver.check
    mono = time.monotonic_ns
    try:
        if items is None:
            polls = 0
            while live:
                progressed = False
                for p in list(live):
                    h, t = q[p * 16], tails[p]
                    if h == t:
                        continue
                    progressed = True
                    now = mono()
                    base = bases[p]
                    while t < h:
                        off = base + (t % slots) * slot
                        n = q[off >> 3]
                        t += 1
                        if n == 0:
                            live.remove(p)
                            break
                        if n != size:
                            return "a producer's slot announces %d bytes, expected %d" % (n, size)
                        check(buf[off + 8 : off + 8 + n], now)
                    tails[p] = t
                    q[p * 16 + 8] = t
                    mark_end()
                if progressed:
                    polls = 0
                else:
                    polls += 1
                    if polls % YIELD_EVERY == 0:
                        os.sched_yield()
        else:
            nxt = 0
            while live:
                items.acquire()
                # A message is published in some ring: look from the one after the last served.
                for k in range(P):
                    p = (nxt + k) % P
                    if q[p * 16] != tails[p]:
                        break
                else:
                    return "a published message was not found in any ring"
                nxt = p + 1
                t = tails[p]
                off = bases[p] + (t % slots) * slot
                n = q[off >> 3]
                if n == 0:
                    live.remove(p)
                elif n != size:
                    return "a producer's slot announces %d bytes, expected %d" % (n, size)
                else:
                    check(buf[off + 8 : off + 8 + n], mono())
                tails[p] = t + 1
                q[p * 16 + 8] = t + 1
                spaces[p].release()
                mark_end()
        return None
    finally:
        q.release()
        buf.release()


def parse_args(argv):
    if not argv or argv[0] not in ("queue", "pipe", "shm-blocking", "shm-spin"):
        raise ValueError("first argument must be queue, pipe, shm-blocking or shm-spin")
    o = {"mode": argv[0], "producers": 1, "messages": 100000, "size": 64, "timeout": 120}
    rest = argv[1:]
    for k, v in zip(rest[::2], rest[1::2]):
        key = k.lstrip("-")
        if key not in o or key == "mode":
            raise ValueError("unknown option " + k)
        o[key] = int(v)
    if len(rest) % 2:
        raise ValueError("option %s has no value" % rest[-1])
    if o["size"] < HEADER_BYTES or o["producers"] < 1 or o["messages"] < 1:
        raise ValueError("size must be at least 32, producers and messages at least 1")
    return o


def main():
    try:
        o = parse_args(sys.argv[1:])
    except ValueError as e:
        sys.stderr.write("mp_ref: %s\nusage: mp_ref.py <queue|pipe|shm-blocking|shm-spin> --producers P --messages M --size S [--timeout SECONDS]\n" % e)
        return 2
    P, M, S = o["producers"], o["messages"], o["size"]
    head = {"transport": "python-" + o["mode"], "kind": "python", "producers": P, "messages": M, "size": S}
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(P + 1)
    procs = []
    shm = None

    def fail(msg):
        for pr in procs:
            if pr.is_alive():
                pr.kill()
        if shm is not None:
            shm.unlink()
        print(json.dumps({**head, "ok": False, "error": msg}), flush=True)
        os._exit(1)

    ver = Verifier(P, M, S)

    def on_signal(sig, _frame):
        if sig == signal.SIGALRM:
            fail("timed out after %d s with %d of %d messages received" % (o["timeout"], ver.received, ver.expected))
        fail("interrupted by signal %d" % sig)

    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.alarm(o["timeout"])

    if o["mode"] == "queue":
        q = ctx.Queue(maxsize=max(2, min(1000, (64 << 20) // S)))
        procs = [ctx.Process(target=producer_queue, args=(i, o, q, barrier)) for i in range(P)]
    elif o["mode"] == "pipe":
        pipes = [ctx.Pipe(duplex=False) for _ in range(P)]
        procs = [ctx.Process(target=producer_pipe, args=(i, o, pipes[i][1], barrier)) for i in range(P)]
    else:
        from multiprocessing import shared_memory

        slot, slots = ring_geometry(S)
        shm = shared_memory.SharedMemory(create=True, size=ring_base(P, S))
        blocking = o["mode"] == "shm-blocking"
        items = ctx.Semaphore(0) if blocking else None
        spaces = [ctx.Semaphore(slots) if blocking else None for _ in range(P)]
        procs = [ctx.Process(target=producer_shm, args=(i, o, shm, barrier, items, spaces[i])) for i in range(P)]
    for pr in procs:
        pr.start()
    if o["mode"] == "pipe":
        for _, w in pipes:
            w.close()
    barrier.wait()
    t0 = time.monotonic_ns()
    t_end = 0
    ended = 0
    mono = time.monotonic_ns
    check = ver.check
    if o["mode"] == "queue":
        get = q.get
        while ended < P:
            m = get()
            if not m:
                ended += 1
                continue
            check(m, mono())
            if not t_end and ver.received >= ver.expected:
                t_end = mono()
    elif o["mode"] != "pipe":

        def mark_end():
            nonlocal t_end
            if not t_end and ver.received >= ver.expected:
                t_end = mono()

        problem = consume_shm(o, shm, ver, items, spaces, mark_end)
        if problem:
            fail(problem)
    else:
        live = [r for r, _ in pipes]
        while live:
            ready = live if len(live) == 1 else mpc.wait(live)
            for r in ready:
                try:
                    m = r.recv_bytes()
                except EOFError:
                    fail("a producer's pipe closed before its end message")
                if not m:
                    live.remove(r)
                    continue
                check(m, mono())
                if not t_end and ver.received >= ver.expected:
                    t_end = mono()
    if not t_end:
        t_end = mono()
    for i, pr in enumerate(procs):
        pr.join()
        if pr.exitcode != 0:
            fail("producer %d exited with status %s" % (i, pr.exitcode))
    signal.alarm(0)
    if shm is not None:
        shm.close()
        shm.unlink()
    ok, p50, p99 = ver.report()
    elapsed_ms = (t_end - t0) / 1e6
    n = P * M
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec = {
        **head,
        "elapsedMs": round(elapsed_ms, 3),
        "msgsPerSec": round(n / (elapsed_ms / 1e3)),
        "mbPerSec": round(n * S / 1e6 / (elapsed_ms / 1e3), 2),
        "latencyP50Us": round(p50, 2),
        "latencyP99Us": round(p99, 2),
        "total": ver.total,
        "ok": ok,
    }
    if not ok:
        rec["error"] = "; ".join(ver.problems) + " (%d problems)" % ver.nproblems
    rec["cpuMs"] = {
        "consumer": round((me.ru_utime + me.ru_stime) * 1e3, 1),
        "producers": round((kids.ru_utime + kids.ru_stime) * 1e3, 1),
    }
    rec["peakRssBytes"] = {"consumer": me.ru_maxrss * 1024, "producers": kids.ru_maxrss * 1024}
    print(json.dumps(rec), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
