# Python's multiprocessing.Pool(2) on the same cases as pool-bench.mjs.
#   python3 packages/process/bench/pool_bench.py [--quick]
import json, sys, time
from multiprocessing import Pool, Process

def square(x):
    return x * x

def nothing():
    pass

if __name__ == "__main__":
    quick = "--quick" in sys.argv
    N = 100_000 if quick else 1_000_000
    T = 10_000 if quick else 100_000
    out = lambda **o: print(json.dumps({"transport": "python", **o}), flush=True)
    t = time.perf_counter()
    with Pool(2) as pool:
        out(case="pool start (2 workers)", ms=(time.perf_counter() - t) * 1000)
        pool.map(square, range(1000))
        t = time.perf_counter(); r = pool.map(square, range(N)); ms = (time.perf_counter() - t) * 1000
        assert r[-1] == (N - 1) ** 2
        out(case=f"map {N} ints, default chunksize", ms=ms, perSec=N / ms * 1000)
        t = time.perf_counter(); pool.map(square, range(T), chunksize=1); ms = (time.perf_counter() - t) * 1000
        out(case=f"map {T} tasks, chunksize 1", ms=ms, perSec=T / ms * 1000)
        rt = []
        for i in range(2000):
            t = time.perf_counter(); pool.apply(square, (i,)); rt.append((time.perf_counter() - t) * 1e6)
        rt.sort()
        out(case="apply round trip", p50us=rt[1000], p99us=rt[1980])
    sj = []
    for i in range(5):
        t = time.perf_counter(); p = Process(target=nothing); p.start(); p.join(); sj.append((time.perf_counter() - t) * 1000)
    sj.sort()
    out(case="Process start -> join, empty target (median of 5)", ms=sj[2])
