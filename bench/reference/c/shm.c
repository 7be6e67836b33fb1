/*
 * POSIX shared memory ring: one single-producer/single-consumer byte ring per
 * producer in one shm_open segment. Records are [u32 length, u32 pad, message]
 * padded to 8 bytes; a record that would cross the end leaves a wrap marker.
 * The writer spins briefly when the ring is full, then sleeps on a futex; the
 * consumer, watching every ring, spins briefly when all are empty, then sleeps
 * on one futex word that any producer wakes. Wake-ups use the Dekker pattern:
 * store own flag/position, full fence, load the other side's. A streaming
 * producer publishes its write position every PUBLISH_BYTES of records (and
 * before it waits for space, and at the end), not after every message: one
 * cache-line hand-over and one fence per batch instead of per message.
 */
#include "ref.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define WRAP 0xFFFFFFFFu
#define RING_HDR 4096u
#define PUBLISH_BYTES 2048u /* streaming producers publish their write position every 2 KiB */

typedef struct {
  _Alignas(64) _Atomic uint64_t head; /* producer's write position (bytes, monotonic) */
  _Atomic uint32_t closed;
  _Alignas(64) _Atomic uint64_t tail; /* consumer's read position */
  _Alignas(64) _Atomic uint32_t writer_sleep;
  _Alignas(64) uint64_t cap;
  uint32_t reader;                    /* which wake word its reader sleeps on */
} ring_t;

typedef struct {
  struct { _Alignas(64) _Atomic uint32_t sleep; } wake[2];
} seg_t;

static char name[128];
static int made;
static size_t seg_size;
static uint64_t ring_cap;
static int nrings;

static seg_t *seg_map(run_t *r, int create) {
  int fd = shm_open(name, create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0600);
  if (fd < 0) { fail(r, "shm_open %s", name); return NULL; }
  if (create) {
    made = 1;
    if (ftruncate(fd, (off_t)seg_size)) { fail(r, "ftruncate %s", name); close(fd); return NULL; }
  }
  void *p = mmap(NULL, seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) { fail(r, "mmap %s", name); return NULL; }
  return p;
}

static ring_t *ring_at(seg_t *s, int i) { return (ring_t *)((uint8_t *)s + RING_HDR + (size_t)i * (RING_HDR + ring_cap)); }
static uint8_t *ring_data(ring_t *g) { return (uint8_t *)g + RING_HDR; }

static int shm_setup(run_t *r) {
  nrings = r->roundtrips ? 2 : (int)r->producers;
  ring_cap = next_pow2(4 * ((uint64_t)r->size + 8));
  if (ring_cap < 256 * 1024) ring_cap = 256 * 1024;
  seg_size = RING_HDR + (size_t)nrings * (RING_HDR + ring_cap);
  res_name(r, name, sizeof name, "shm");
  seg_t *s = seg_map(r, 1);
  if (!s) return -1;
  for (int i = 0; i < nrings; i++) {
    ring_t *g = ring_at(s, i);
    g->cap = ring_cap;
    g->reader = r->roundtrips ? (uint32_t)(i == 0) : 0; /* round trip: ring 0 parent->child, read by the child */
  }
  munmap(s, seg_size);
  return 0;
}

static inline void wake_if_sleeping(_Atomic uint32_t *w) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(w, memory_order_relaxed)) {
    atomic_store_explicit(w, 0, memory_order_relaxed);
    futex_wake(w, 1);
  }
}

/* Producer: returns where to write a len-byte message; publish with ring_commit. */
typedef struct { ring_t *g; uint8_t *data; uint64_t head, tail_cache, mask; int spin; uint64_t published, batch; seg_t *s; } writer_t;

static inline void ring_publish(writer_t *w) {
  w->published = w->head;
  atomic_store_explicit(&w->g->head, w->head, memory_order_release);
  wake_if_sleeping(&w->s->wake[w->g->reader].sleep);
}

static inline uint8_t *ring_reserve(writer_t *w, uint32_t len, uint64_t *need_out) {
  ring_t *g = w->g;
  uint64_t cap = g->cap, need = (8 + (uint64_t)len + 7) & ~7ull;
  uint64_t idx = w->head & w->mask, pad = idx + need > cap ? cap - idx : 0;
  if (cap - (w->head - w->tail_cache) < pad + need) {
    int spins = 0;
    if (w->published != w->head) ring_publish(w); /* let the consumer drain what is written */
    for (;;) {
      w->tail_cache = atomic_load_explicit(&g->tail, memory_order_acquire);
      if (cap - (w->head - w->tail_cache) >= pad + need) break;
      if (spins++ < w->spin) { cpu_relax(); continue; }
      atomic_store_explicit(&g->writer_sleep, 1, memory_order_relaxed);
      atomic_thread_fence(memory_order_seq_cst);
      w->tail_cache = atomic_load_explicit(&g->tail, memory_order_acquire);
      if (cap - (w->head - w->tail_cache) >= pad + need) { atomic_store(&g->writer_sleep, 0); break; }
      futex_wait(&g->writer_sleep, 1);
    }
  }
  if (pad) {
    wr32(w->data + idx, WRAP);
    w->head += pad;
    idx = 0;
  }
  wr32(w->data + idx, len);
  *need_out = need;
  return w->data + idx + 8;
}

/* Publishes once at least w->batch bytes are written (0: every message). */
static inline void ring_commit(writer_t *w, uint64_t need) {
  w->head += need;
  if (w->head - w->published >= w->batch) ring_publish(w);
}

static int shm_producer(run_t *r, int id) {
  seg_t *s = seg_map(r, 0);
  if (!s) return -1;
  writer_t w = {ring_at(s, id), NULL, 0, 0, 0, r->spin, 0, PUBLISH_BYTES, s};
  w.data = ring_data(w.g);
  w.mask = w.g->cap - 1;
  encoder_t e;
  enc_init(&e, (uint32_t)id, r->size);
  producer_ready(r);
  for (uint64_t seq = 0; seq < r->messages; seq++) {
    uint64_t need;
    uint8_t *p = ring_reserve(&w, r->size, &need);
    enc_write(&e, p, seq, now_ns());
    ring_commit(&w, need);
  }
  ring_publish(&w);
  atomic_store_explicit(&w.g->closed, 1, memory_order_release);
  wake_if_sleeping(&s->wake[w.g->reader].sleep);
  return 0;
}

static int shm_consumer(run_t *r, verifier_t *v) {
  seg_t *s = seg_map(r, 0);
  if (!s) return -1;
  int n = (int)r->producers, open = n;
  ring_t *g[MAX_PRODUCERS];
  uint64_t tail[MAX_PRODUCERS];
  int done[MAX_PRODUCERS] = {0};
  for (int i = 0; i < n; i++) { g[i] = ring_at(s, i); tail[i] = 0; }
  uint64_t mask = ring_cap - 1, chunk = ring_cap / 4;
  _Atomic uint32_t *sleep = &s->wake[0].sleep;
  consumer_start(r);
  int idle = 0;
  while (open) {
    int progressed = 0;
    for (int i = 0; i < n; i++) {
      if (done[i]) continue;
      uint64_t h = atomic_load_explicit(&g[i]->head, memory_order_acquire);
      if (h == tail[i]) {
        if (atomic_load_explicit(&g[i]->closed, memory_order_acquire) &&
            atomic_load_explicit(&g[i]->head, memory_order_acquire) == tail[i]) {
          done[i] = 1;
          open--;
        }
        continue;
      }
      double now = now_ns();
      uint8_t *data = ring_data(g[i]);
      uint64_t t = tail[i], start = t;
      while (t != h) {
        uint64_t idx = t & mask;
        uint32_t len = rd32(data + idx);
        if (len == WRAP) { t += ring_cap - idx; continue; }
        ver_check(v, data + idx + 8, len, now);
        t += (8 + (uint64_t)len + 7) & ~7ull;
        if (t - start >= chunk) break; /* hand space back regularly */
      }
      tail[i] = t;
      atomic_store_explicit(&g[i]->tail, t, memory_order_release);
      wake_if_sleeping(&g[i]->writer_sleep);
      progressed = 1;
    }
    if (progressed) { idle = 0; mark_progress(r, v); continue; }
    if (!open) break;
    if (idle++ < r->spin) { cpu_relax(); continue; }
    /* sleep until a producer publishes: flag, fence, look once more, wait */
    atomic_store_explicit(sleep, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    int any = 0;
    for (int i = 0; i < n && !any; i++)
      if (!done[i] && (atomic_load(&g[i]->head) != tail[i] || atomic_load(&g[i]->closed))) any = 1;
    if (!any) futex_wait(sleep, 1);
    atomic_store_explicit(sleep, 0, memory_order_relaxed);
    idle = 0;
  }
  munmap(s, seg_size);
  return 0;
}

/* round trip: ring 0 carries pings to the child, ring 1 pongs back */
typedef struct { run_t *r; seg_t *s; writer_t w; ring_t *in; uint64_t tail; _Atomic uint32_t *sleep; } shm_io;

static int io_send(void *c, const uint8_t *m, size_t len) {
  shm_io *io = c;
  uint64_t need;
  uint8_t *p = ring_reserve(&io->w, (uint32_t)len, &need);
  memcpy(p, m, len);
  ring_commit(&io->w, need);
  return 0;
}

static long io_recv(void *c, uint8_t *buf, size_t cap) {
  shm_io *io = c;
  ring_t *g = io->in;
  uint8_t *data = ring_data(g);
  uint64_t mask = g->cap - 1;
  int spins = 0;
  for (;;) {
    uint64_t h = atomic_load_explicit(&g->head, memory_order_acquire);
    if (h != io->tail) {
      uint64_t idx = io->tail & mask;
      uint32_t len = rd32(data + idx);
      if (len == WRAP) { io->tail += g->cap - idx; continue; }
      if (len > cap) return fail(io->r, "ring record of %u bytes is larger than %zu", len, cap);
      memcpy(buf, data + idx + 8, len);
      io->tail += (8 + (uint64_t)len + 7) & ~7ull;
      atomic_store_explicit(&g->tail, io->tail, memory_order_release);
      wake_if_sleeping(&g->writer_sleep);
      return (long)len;
    }
    if (spins++ < io->r->spin) { cpu_relax(); continue; }
    atomic_store_explicit(io->sleep, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&g->head) == io->tail) futex_wait(io->sleep, 1);
    atomic_store_explicit(io->sleep, 0, memory_order_relaxed);
    spins = 0;
  }
}

static int shm_rt(run_t *r, verifier_t *v, double *rtt, int ping) {
  shm_io io = {.r = r, .s = seg_map(r, 0)};
  if (!io.s) return -1;
  io.w = (writer_t){ring_at(io.s, ping ? 0 : 1), NULL, 0, 0, ring_cap - 1, r->spin, 0, 0, io.s};
  io.w.data = ring_data(io.w.g);
  io.in = ring_at(io.s, ping ? 1 : 0);
  io.sleep = &io.s->wake[io.in->reader].sleep;
  msg_io_t m = {io_send, io_recv, &io};
  if (ping) {
    consumer_start(r);
    return msg_rt_ping(r, v, rtt, &m);
  }
  producer_ready(r);
  return msg_rt_echo(r, v, &m);
}
static int shm_rt_echo(run_t *r, verifier_t *v) { return shm_rt(r, v, NULL, 0); }
static int shm_rt_ping(run_t *r, verifier_t *v, double *rtt) { return shm_rt(r, v, rtt, 1); }

static void shm_cleanup(run_t *r) {
  (void)r;
  if (made) shm_unlink(name);
  made = 0;
}

const mech_t mech_shm = {"shm", NULL, shm_setup, shm_producer, shm_consumer, shm_rt_echo, shm_rt_ping, shm_cleanup};
