# Python counterparts of shared-state-bench.mjs, one JSON line per case. Usage:
#   python3 packages/process/bench/shared_state_bench.py [--quick] [--case queue,value,event]
# With --case, only the cases whose ids start with one of the words run
# (ids: queue-1-1, queue-4-2, value, event), as in shared-state-bench.mjs.
import json, multiprocessing as mp, sys, time

QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--case") + 1].split(",") if "--case" in sys.argv else None


def wanted(name):
    return ONLY is None or any(name.startswith(w) for w in ONLY)

M = 50_000 if QUICK else 400_000
INC = 200_000 if QUICK else 2_000_000
ROUNDS = 500 if QUICK else 2_000


def out(**o):
    print(json.dumps(o), flush=True)


def producer(q, start, count):
    for i in range(start, start + count):
        q.put({"id": i, "tag": "tick"})


def consumer(q, count):
    for _ in range(count):
        q.get()


def increments(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def event_echo(go, ack, stamp, lat, rounds):
    for i in range(rounds):
        go.wait()
        lat[i] = time.monotonic_ns() - stamp.value
        go.clear()
        ack.set()


def queue_case(producers, consumers):
    q = mp.Queue(1024)
    per = M // producers
    cs = [mp.Process(target=consumer, args=(q, M // consumers)) for _ in range(consumers - 1)]
    ps = [mp.Process(target=producer, args=(q, k * per, per)) for k in range(producers)]
    for p in cs + ps:
        p.start()
    q.get()
    t = time.perf_counter()
    for _ in range(M // consumers - 1):
        q.get()
    for p in cs + ps:
        p.join()
    s = time.perf_counter() - t
    out(case=f"queue put/get {producers}→{consumers}", messages=M, ms=round(s * 1000), msgsPerSec=round(M / s))


def value_case(procs):
    v = mp.Value("i", 0)
    per = INC // procs
    if procs == 1:
        t = time.perf_counter()
        increments(v, per)
        s = time.perf_counter() - t
    else:
        ps = [mp.Process(target=increments, args=(v, per)) for _ in range(procs)]
        for p in ps:
            p.start()
        t = time.perf_counter()
        for p in ps:
            p.join()
        s = time.perf_counter() - t
    assert v.value == INC, v.value
    out(case=f"Value += 1 under its lock, {procs} process{'es' if procs > 1 else ''}", ops=INC, ms=round(s * 1000), opsPerSec=round(INC / s))


def event_case():
    go, ack = mp.Event(), mp.Event()
    stamp = mp.Value("q", 0, lock=False)
    lat = mp.Array("q", ROUNDS, lock=False)
    p = mp.Process(target=event_echo, args=(go, ack, stamp, lat, ROUNDS))
    p.start()
    for _ in range(ROUNDS):
        time.sleep(0.001)
        stamp.value = time.monotonic_ns()
        go.set()
        ack.wait()
        ack.clear()
    p.join()
    us = sorted(x / 1000 for x in lat)
    out(case="Event set → wait wake-up (one way)", rounds=ROUNDS, p50us=round(us[len(us) // 2], 1), p99us=round(us[int(len(us) * 0.99)], 1))


if __name__ == "__main__":
    if wanted("queue-1-1"):
        queue_case(1, 1)
    if wanted("queue-4-2"):
        queue_case(4, 2)
    if wanted("value"):
        value_case(1)
        value_case(2)
    if wanted("event"):
        event_case()
