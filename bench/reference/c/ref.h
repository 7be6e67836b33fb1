/*
 * ipc-ref: native C reference implementations of the ipc-sampler scenario.
 *
 * This header holds what every mechanism shares: the scenario message format
 * and checksum (byte-for-byte the same as packages/core/src/scenario.ts and
 * checksum.ts), the consumer's verifier, and the run harness (start barrier,
 * futex helpers, stream helpers, error reporting).
 *
 * Scenario message, little-endian:
 *    0 u32 producer id      4 u32 payload length   8 f64 sequence number
 *   16 f64 send time (CLOCK_MONOTONIC ns)         24 u32 checksum32(payload)
 *   28 u32 value = seq % 100 + 1                  32 ... payload
 */
#ifndef IPC_REF_H
#define IPC_REF_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define HDR_BYTES 32u
#define BATCH_BYTES 65536u /* stream producers coalesce messages into writes of this size */
#define MAX_PRODUCERS 64
#define MAX_SAMPLES (1u << 20)

/* ---- scenario message and checksum ------------------------------------ */

static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline double rdf64(const uint8_t *p) { double v; memcpy(&v, p, 8); return v; }
static inline void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wrf64(uint8_t *p, double v) { memcpy(p, &v, 8); }

static inline uint32_t mix_word(uint32_t w, uint32_t i) {
  return (w ^ ((i + 1u) * 0x9e3779b1u)) * 0x85ebca77u;
}

/* Sum of mix_word over 32-bit words [from, ceil(len/4)) of p; a trailing partial word is zero-padded. */
static inline uint32_t checksum_words(const uint8_t *p, size_t len, size_t from) {
  size_t whole = len >> 2, i = from;
  uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (; i + 4 <= whole; i += 4) {
    s0 += mix_word(rd32(p + 4 * i), (uint32_t)i);
    s1 += mix_word(rd32(p + 4 * i + 4), (uint32_t)i + 1);
    s2 += mix_word(rd32(p + 4 * i + 8), (uint32_t)i + 2);
    s3 += mix_word(rd32(p + 4 * i + 12), (uint32_t)i + 3);
  }
  for (; i < whole; i++) s0 += mix_word(rd32(p + 4 * i), (uint32_t)i);
  if ((len & 3) && whole >= from) {
    uint32_t w = 0;
    memcpy(&w, p + 4 * whole, len & 3);
    s0 += mix_word(w, (uint32_t)whole);
  }
  return s0 + s1 + s2 + s3;
}

/* Large payloads: 8 words at a time with AVX2 when the CPU has it (common.c). */
uint32_t checksum32_wide(const uint8_t *p, size_t len);

static inline uint32_t checksum32(const uint8_t *p, size_t len) {
  if (len >= 512) return checksum32_wide(p, len);
  return checksum_words(p, len, 0) + (uint32_t)len;
}

static inline double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Producer side: a template message, patched per sequence number (same as ScenarioEncoder). */
typedef struct {
  uint32_t id, size, plen, rest;
  uint8_t *tmpl;
} encoder_t;

void enc_init(encoder_t *e, uint32_t id, uint32_t size);

/* Fills header and the sequence-dependent payload words of message m (which holds the template). */
static inline void enc_patch(const encoder_t *e, uint8_t *m, uint64_t seq, double t) {
  wrf64(m + 8, (double)seq);
  wrf64(m + 16, t);
  wr32(m + 28, (uint32_t)(seq % 100) + 1);
  uint32_t n = e->plen, sum;
  if (n >= 8) {
    uint32_t w0 = (uint32_t)seq ^ 0x5bd1e995u;
    uint32_t w1 = e->id ^ (uint32_t)(seq >> 32);
    wr32(m + HDR_BYTES, w0);
    wr32(m + HDR_BYTES + 4, w1);
    sum = mix_word(w0, 0) + mix_word(w1, 1) + e->rest + n;
  } else {
    for (uint32_t i = 0; i < n; i++) m[HDR_BYTES + i] = (uint8_t)(seq + i);
    sum = checksum32(m + HDR_BYTES, n);
  }
  wr32(m + 24, sum);
}

static inline void enc_write(const encoder_t *e, uint8_t *dst, uint64_t seq, double t) {
  memcpy(dst, e->tmpl, e->size);
  enc_patch(e, dst, seq, t);
}

/* ---- consumer side: the verifier (same checks as ScenarioVerifier) ------ */

typedef struct {
  uint32_t producers, size;
  uint64_t messages, expected, received, total, bad;
  double next[MAX_PRODUCERS];
  double *samples;
  uint64_t nsamples, cap, stride, countdown;
  char problem[512]; /* the first problem, as a sentence */
  uint64_t nproblems;
} verifier_t;

void ver_init(verifier_t *v, uint32_t producers, uint64_t messages, uint32_t size);
void ver_problem(verifier_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* After the run: records missing messages and a wrong total; returns 1 when everything verified. */
int ver_finish(verifier_t *v);
uint64_t expected_total(uint32_t producers, uint64_t messages);
double percentile_us(double *sorted, uint64_t n, double q);
void sort_doubles(double *a, uint64_t n);

/* Verifies one message at m[0, len) received at now (CLOCK_MONOTONIC ns). Returns 1 if good. */
static inline int ver_check(verifier_t *v, const uint8_t *m, size_t len, double now) {
  v->received++;
  if (len != v->size) {
    ver_problem(v, "message %llu is %zu bytes, expected %u", (unsigned long long)v->received, len, v->size);
    return 0;
  }
  uint32_t p = rd32(m);
  if (p >= v->producers) { ver_problem(v, "unknown producer id %u", p); return 0; }
  uint32_t plen = rd32(m + 4);
  if (plen != len - HDR_BYTES) {
    ver_problem(v, "producer %u: header says %u payload bytes, message has %zu", p, plen, len - HDR_BYTES);
    return 0;
  }
  double seq = rdf64(m + 8), want = v->next[p];
  if (seq != want) {
    const char *kind = seq < want ? (seq == want - 1 ? "duplicate" : "reorder") : "gap";
    ver_problem(v, "%s: producer %u got sequence %.0f, expected %.0f", kind, p, seq, want);
    if (seq > want) v->next[p] = seq + 1;
    return 0;
  }
  v->next[p] = seq + 1;
  if (checksum32(m + HDR_BYTES, plen) != rd32(m + 24)) {
    ver_problem(v, "checksum: producer %u sequence %.0f: checksum mismatch", p, seq);
    return 0;
  }
  v->total += rd32(m + 28);
  if (--v->countdown == 0) {
    v->countdown = v->stride;
    if (v->nsamples < v->cap) v->samples[v->nsamples++] = now - rdf64(m + 16);
  }
  return 1;
}

/* ---- the run harness ------------------------------------------------------ */

/* Round trip: the two sides, as indexes into ctl_t.seen and run_t.pin. */
enum { SIDE_PINGER = 0, SIDE_PONGER = 1 };

/* Shared (anonymous MAP_SHARED) control block: the start barrier, a producer's error text,
 * and (round trip) the CPUs each side was seen running on; each side writes only its own set. */
typedef struct {
  _Atomic uint32_t ready;
  _Atomic uint32_t go;
  _Atomic uint32_t err_set;
  char child_err[512];
  cpu_set_t seen[2];
} ctl_t;

typedef struct {
  const char *mech;
  uint32_t producers, size;
  uint64_t messages;
  uint64_t roundtrips, warmup; /* roundtrips > 0: round-trip mode */
  int timeout_s;
  int spin; /* spin iterations before a futex wait (shm, mmap) */
  int pin[2];  /* round trip: the CPU each side pins itself to (--pinger-cpu, --ponger-cpu), -1: not pinned */
  int side;    /* round trip: SIDE_PINGER in the parent, SIDE_PONGER in the forked child */
  char prefix[64];  /* "ipcref-<pid>": every named resource starts with it */
  char tmpdir[200]; /* where FIFOs, socket paths and journal files go */
  ctl_t *ctl;
  double t0, t_end;
  char error[512];
} run_t;

typedef struct {
  const char *name;
  /* NULL if size (and mode) can run here, else a reason written into why. */
  const char *(*limit)(run_t *r, char *why, size_t n);
  int (*setup)(run_t *r);                            /* before fork: create named resources */
  int (*producer)(run_t *r, int id);                 /* child: attach, producer_ready(), send */
  int (*consumer)(run_t *r, verifier_t *v);          /* parent: attach, consumer_start(), receive all */
  int (*rt_echo)(run_t *r, verifier_t *v);           /* child: attach, producer_ready(), echo */
  int (*rt_ping)(run_t *r, verifier_t *v, double *rtt); /* parent: attach, consumer_start(), ping */
  void (*cleanup)(run_t *r);                         /* remove named resources; idempotent */
} mech_t;

extern const mech_t mech_pipe, mech_fifo, mech_mqueue, mech_shm, mech_mmap, mech_uds, mech_tcp, mech_semaphore;

int fail(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void producer_ready(run_t *r);
void consumer_start(run_t *r);
static inline void mark_progress(run_t *r, const verifier_t *v) {
  if (r->t_end == 0 && v->received >= v->expected) r->t_end = now_ns();
}
/* Round trip: records the CPU this side is running on now (sched_getcpu) in ctl->seen. */
static inline void note_cpu(run_t *r) {
  int c = sched_getcpu();
  if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &r->ctl->seen[r->side]);
}
/* How often the round-trip loops call note_cpu: every NOTE_CPU_EVERY-th round trip, outside the timed part. */
#define NOTE_CPU_EVERY 256u
void res_name(run_t *r, char *out, size_t n, const char *suffix);  /* "/<prefix>-<suffix>" */
void res_path(run_t *r, char *out, size_t n, const char *suffix);  /* "<tmpdir>/<prefix>-<suffix>" */
uint64_t next_pow2(uint64_t x);

/* futex on a word in shared memory (not FUTEX_PRIVATE: other processes wait on it too) */
void futex_wait(_Atomic uint32_t *addr, uint32_t val);
void futex_wake(_Atomic uint32_t *addr, int n);
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* byte streams (pipe, FIFO, Unix socket, TCP) */
int write_all(int fd, const void *buf, size_t n);
int read_exact(int fd, void *buf, size_t n); /* -1 on error or EOF */
int stream_produce(run_t *r, int id, int fd);
int stream_consume(run_t *r, verifier_t *v, int *fds, int n);
int stream_rt_echo(run_t *r, verifier_t *v, int rfd, int wfd);
int stream_rt_ping(run_t *r, verifier_t *v, double *rtt, int rfd, int wfd);

/* a message-at-a-time round trip on top of send/recv callbacks (mq, shm, mmap, semaphore) */
typedef struct {
  int (*send)(void *ctx, const uint8_t *m, size_t len);
  long (*recv)(void *ctx, uint8_t *buf, size_t cap); /* length, or -1 with r->error set */
  void *ctx;
} msg_io_t;
int msg_rt_echo(run_t *r, verifier_t *v, msg_io_t *io);
int msg_rt_ping(run_t *r, verifier_t *v, double *rtt, msg_io_t *io);

#endif
