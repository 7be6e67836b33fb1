/*
 * Memory-mapped file journal: a regular file (mode 0600 in the temp dir)
 * mapped MAP_SHARED by every process. Producers append records to one shared
 * journal: reserve space with a compare-and-swap on the write position, write
 * the record, then commit it by storing its tag (position + 1) last. The
 * consumer follows the journal in order, reading a record only once its tag
 * matches, and keeps its read position in the file header. The data region is
 * circular (a record never splits: a wrap record pads to the end), so the
 * file stays bounded; no msync per message (the page cache writes back).
 * Waiting: spin briefly, then futex on words in the mapped file.
 */
#include "ref.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define J_HDR 4096u
#define F_WRAP 1u

typedef struct {
  uint64_t magic, cap;
  _Alignas(64) _Atomic uint64_t reserve;   /* next free position (producers) */
  _Alignas(64) _Atomic uint64_t read_pos;  /* consumer's position, persisted */
  _Alignas(64) _Atomic uint32_t reader_sleep;
  _Alignas(64) _Atomic uint32_t space_seq;
  _Atomic uint32_t writers_waiting;
  _Alignas(64) _Atomic uint32_t closed;    /* producers that have finished */
} journal_t;

typedef struct {
  _Atomic uint64_t tag; /* position + 1 once committed */
  uint32_t len, flags;
} rec_t;

static char paths[2][300];
static int npaths;
static size_t file_size;
static uint64_t jcap;

static journal_t *j_map(run_t *r, int i, int create) {
  int fd = open(paths[i], create ? O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC : O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) { fail(r, "open %s", paths[i]); return NULL; }
  if (create) {
    npaths = i + 1;
    if (ftruncate(fd, (off_t)file_size)) { fail(r, "ftruncate %s", paths[i]); close(fd); return NULL; }
  }
  void *p = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) { fail(r, "mmap %s", paths[i]); return NULL; }
  return p;
}

static inline uint8_t *j_data(journal_t *j) { return (uint8_t *)j + J_HDR; }

static int mm_setup(run_t *r) {
  jcap = next_pow2(4 * ((uint64_t)r->size + 16));
  if (jcap < 16u << 20) jcap = 16u << 20;
  file_size = J_HDR + jcap;
  for (int i = 0; i < (r->roundtrips ? 2 : 1); i++) {
    char suffix[32];
    snprintf(suffix, sizeof suffix, "journal-%d", i);
    res_path(r, paths[i], sizeof paths[i], suffix);
    journal_t *j = j_map(r, i, 1);
    if (!j) return -1;
    j->magic = 0x4c4e524a46455249ull;
    j->cap = jcap;
    munmap(j, file_size);
  }
  return 0;
}

static inline void wake_if(_Atomic uint32_t *w) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(w, memory_order_relaxed)) {
    atomic_store_explicit(w, 0, memory_order_relaxed);
    futex_wake(w, 1);
  }
}

typedef struct { journal_t *j; uint64_t read_cache; int spin; } appender_t;

/* Reserves room for a len-byte message; returns the record, not yet committed. */
static inline rec_t *j_reserve(appender_t *a, uint32_t len, uint64_t *pos_out) {
  journal_t *j = a->j;
  uint64_t cap = j->cap, mask = cap - 1, need = (16 + (uint64_t)len + 15) & ~15ull;
  uint64_t start = atomic_load_explicit(&j->reserve, memory_order_relaxed), pad, end;
  do {
    uint64_t idx = start & mask;
    pad = idx + need > cap ? cap - idx : 0;
    end = start + pad + need;
  } while (!atomic_compare_exchange_weak(&j->reserve, &start, end));
  if (end - a->read_cache > cap) {
    int spins = 0;
    for (;;) {
      a->read_cache = atomic_load_explicit(&j->read_pos, memory_order_acquire);
      if (end - a->read_cache <= cap) break;
      if (spins++ < a->spin) { cpu_relax(); continue; }
      uint32_t seq = atomic_load(&j->space_seq);
      atomic_fetch_add(&j->writers_waiting, 1);
      a->read_cache = atomic_load(&j->read_pos);
      if (end - a->read_cache > cap) futex_wait(&j->space_seq, seq);
      atomic_fetch_sub(&j->writers_waiting, 1);
    }
  }
  uint8_t *data = j_data(j);
  if (pad) {
    rec_t *w = (rec_t *)(data + (start & mask));
    w->len = (uint32_t)pad;
    w->flags = F_WRAP;
    atomic_store_explicit(&w->tag, start + 1, memory_order_release);
  }
  *pos_out = start + pad;
  rec_t *rec = (rec_t *)(data + ((start + pad) & mask));
  rec->len = len;
  rec->flags = 0;
  return rec;
}

static inline void j_commit(journal_t *j, rec_t *rec, uint64_t pos) {
  atomic_store_explicit(&rec->tag, pos + 1, memory_order_release);
  wake_if(&j->reader_sleep);
}

static int mm_producer(run_t *r, int id) {
  appender_t a = {j_map(r, 0, 0), 0, r->spin};
  if (!a.j) return -1;
  encoder_t e;
  enc_init(&e, (uint32_t)id, r->size);
  producer_ready(r);
  for (uint64_t seq = 0; seq < r->messages; seq++) {
    uint64_t pos;
    rec_t *rec = j_reserve(&a, r->size, &pos);
    enc_write(&e, (uint8_t *)(rec + 1), seq, now_ns());
    j_commit(a.j, rec, pos);
  }
  atomic_fetch_add(&a.j->closed, 1);
  wake_if(&a.j->reader_sleep);
  return 0;
}

/* Consumer side: the next committed record at *pos, or NULL. Skips wrap records. */
static inline rec_t *j_next(journal_t *j, uint64_t *pos) {
  uint64_t mask = j->cap - 1;
  for (;;) {
    rec_t *rec = (rec_t *)(j_data(j) + (*pos & mask));
    if (atomic_load_explicit(&rec->tag, memory_order_acquire) != *pos + 1) return NULL;
    if (!(rec->flags & F_WRAP)) return rec;
    *pos += rec->len;
  }
}

static inline void j_release(journal_t *j, uint64_t pos) {
  atomic_store_explicit(&j->read_pos, pos, memory_order_release);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&j->writers_waiting, memory_order_relaxed)) {
    atomic_fetch_add(&j->space_seq, 1);
    futex_wake(&j->space_seq, INT_MAX);
  }
}

static int mm_wait(journal_t *j, uint64_t pos, uint32_t producers) {
  /* returns 1 when the journal is finished (every producer closed and nothing left) */
  atomic_store_explicit(&j->reader_sleep, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  uint64_t p = pos;
  if (j_next(j, &p)) { atomic_store(&j->reader_sleep, 0); return 0; }
  if (atomic_load(&j->closed) == producers) {
    atomic_store(&j->reader_sleep, 0);
    p = pos;
    return j_next(j, &p) == NULL && atomic_load(&j->reserve) <= p;
  }
  futex_wait(&j->reader_sleep, 1);
  atomic_store(&j->reader_sleep, 0);
  return 0;
}

static int mm_consumer(run_t *r, verifier_t *v) {
  journal_t *j = j_map(r, 0, 0);
  if (!j) return -1;
  uint64_t pos = 0, released = 0, chunk = jcap / 8;
  consumer_start(r);
  int idle = 0;
  for (;;) {
    rec_t *rec = j_next(j, &pos);
    if (rec) {
      /* Find the batch's end first and read the clock after it: every record
         in the batch was committed before `now`, so no latency is negative.
         (Records are committed one by one, unlike the shm ring's single head.) */
      uint64_t end = pos;
      do {
        end += (16 + (uint64_t)rec->len + 15) & ~15ull;
        if (end - released >= chunk) break;
      } while ((rec = j_next(j, &end)) != NULL);
      double now = now_ns();
      /* j_next may have stepped `end` over a trailing wrap record: stop there too */
      while (pos != end && (rec = j_next(j, &pos)) != NULL) {
        ver_check(v, (uint8_t *)(rec + 1), rec->len, now);
        pos += (16 + (uint64_t)rec->len + 15) & ~15ull;
      }
      j_release(j, pos);
      released = pos;
      mark_progress(r, v);
      idle = 0;
      continue;
    }
    if (released != pos) { j_release(j, pos); released = pos; }
    if (idle++ < r->spin) { cpu_relax(); continue; }
    idle = 0;
    if (mm_wait(j, pos, r->producers)) break;
  }
  munmap(j, file_size);
  return 0;
}

/* round trip: journal 0 carries pings, journal 1 pongs */
typedef struct { run_t *r; appender_t out; journal_t *in; uint64_t pos; } mm_io;

static int io_send(void *c, const uint8_t *m, size_t len) {
  mm_io *io = c;
  uint64_t pos;
  rec_t *rec = j_reserve(&io->out, (uint32_t)len, &pos);
  memcpy(rec + 1, m, len);
  j_commit(io->out.j, rec, pos);
  return 0;
}

static long io_recv(void *c, uint8_t *buf, size_t cap) {
  mm_io *io = c;
  int spins = 0;
  for (;;) {
    rec_t *rec = j_next(io->in, &io->pos);
    if (rec) {
      uint32_t len = rec->len;
      if (len > cap) return fail(io->r, "journal record of %u bytes is larger than %zu", len, cap);
      memcpy(buf, rec + 1, len);
      io->pos += (16 + (uint64_t)len + 15) & ~15ull;
      j_release(io->in, io->pos);
      return (long)len;
    }
    if (spins++ < io->r->spin) { cpu_relax(); continue; }
    spins = 0;
    mm_wait(io->in, io->pos, 1);
  }
}

static int mm_rt(run_t *r, verifier_t *v, double *rtt, int ping) {
  mm_io io = {.r = r, .out = {j_map(r, ping ? 0 : 1, 0), 0, r->spin}, .in = j_map(r, ping ? 1 : 0, 0)};
  if (!io.out.j || !io.in) return -1;
  msg_io_t m = {io_send, io_recv, &io};
  if (ping) {
    consumer_start(r);
    return msg_rt_ping(r, v, rtt, &m);
  }
  producer_ready(r);
  return msg_rt_echo(r, v, &m);
}
static int mm_rt_echo(run_t *r, verifier_t *v) { return mm_rt(r, v, NULL, 0); }
static int mm_rt_ping(run_t *r, verifier_t *v, double *rtt) { return mm_rt(r, v, rtt, 1); }

static void mm_cleanup(run_t *r) {
  (void)r;
  for (int i = 0; i < npaths; i++) unlink(paths[i]);
  npaths = 0;
}

const mech_t mech_mmap = {"mmap", NULL, mm_setup, mm_producer, mm_consumer, mm_rt_echo, mm_rt_ping, mm_cleanup};
