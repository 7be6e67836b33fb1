/* Shared pieces of the C references: encoder, verifier, barrier, futex and stream helpers. */
#include "ref.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- encoder ------------------------------------------------------------ */

void enc_init(encoder_t *e, uint32_t id, uint32_t size) {
  e->id = id;
  e->size = size;
  e->plen = size - HDR_BYTES;
  e->tmpl = aligned_alloc(64, (size + 63) & ~63u);
  if (!e->tmpl) abort();
  memset(e->tmpl, 0, size);
  /* xorshift32 pattern seeded as ScenarioEncoder does: ((id + 1) * 0x2545f491) as int32 */
  uint32_t x = (id + 1u) * 0x2545f491u;
  for (uint32_t i = HDR_BYTES; i < size; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    e->tmpl[i] = (uint8_t)x;
  }
  wr32(e->tmpl, id);
  wr32(e->tmpl + 4, e->plen);
  e->rest = e->plen > 8 ? checksum_words(e->tmpl + HDR_BYTES, e->plen, 2) : 0;
}

/* ---- wide checksum --------------------------------------------------------- */

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static uint32_t checksum_avx2(const uint8_t *p, size_t len) {
  size_t whole = len >> 2, i = 0;
  const __m256i mul = _mm256_set1_epi32((int)0x85ebca77u);
  const __m256i kstep = _mm256_set1_epi32((int)(16u * 0x9e3779b1u));
  /* k for words i..i+7 and i+8..i+15: (index + 1) * 0x9e3779b1 */
  __m256i k0 = _mm256_mullo_epi32(_mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8), _mm256_set1_epi32((int)0x9e3779b1u));
  __m256i k1 = _mm256_mullo_epi32(_mm256_setr_epi32(9, 10, 11, 12, 13, 14, 15, 16), _mm256_set1_epi32((int)0x9e3779b1u));
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
  for (; i + 16 <= whole; i += 16) {
    __m256i w0 = _mm256_loadu_si256((const __m256i *)(p + 4 * i));
    __m256i w1 = _mm256_loadu_si256((const __m256i *)(p + 4 * i + 32));
    a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_xor_si256(w0, k0), mul));
    a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_xor_si256(w1, k1), mul));
    k0 = _mm256_add_epi32(k0, kstep);
    k1 = _mm256_add_epi32(k1, kstep);
  }
  __m256i a = _mm256_add_epi32(a0, a1);
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
  uint32_t s = (uint32_t)_mm_cvtsi128_si32(h);
  return s + checksum_words(p, len, i) + (uint32_t)len;
}
#endif

uint32_t checksum32_wide(const uint8_t *p, size_t len) {
#if defined(__x86_64__)
  static int avx2 = -1;
  if (avx2 < 0) avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
  if (avx2) return checksum_avx2(p, len);
#endif
  return checksum_words(p, len, 0) + (uint32_t)len;
}

/* ---- verifier ------------------------------------------------------------ */

void ver_init(verifier_t *v, uint32_t producers, uint64_t messages, uint32_t size) {
  memset(v, 0, sizeof *v);
  v->producers = producers;
  v->messages = messages;
  v->size = size;
  v->expected = (uint64_t)producers * messages;
  v->stride = v->expected > MAX_SAMPLES ? (v->expected + MAX_SAMPLES - 1) / MAX_SAMPLES : 1;
  v->countdown = 1;
  v->cap = v->expected < MAX_SAMPLES ? (v->expected ? v->expected : 1) : MAX_SAMPLES;
  v->samples = malloc(v->cap * sizeof(double));
  if (!v->samples) abort();
}

void ver_problem(verifier_t *v, const char *fmt, ...) {
  v->bad++;
  if (v->nproblems++ == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->problem, sizeof v->problem, fmt, ap);
    va_end(ap);
  }
}

uint64_t expected_total(uint32_t producers, uint64_t messages) {
  uint64_t full = messages / 100, rest = messages % 100;
  return (full * 5050 + rest * (rest + 1) / 2) * producers;
}

int ver_finish(verifier_t *v) {
  for (uint32_t p = 0; p < v->producers; p++) {
    if (v->next[p] < (double)v->messages)
      ver_problem(v, "missing: producer %u: %.0f messages never arrived", p, (double)v->messages - v->next[p]);
  }
  uint64_t want = expected_total(v->producers, v->messages);
  if (v->total != want)
    ver_problem(v, "total %llu, expected %llu", (unsigned long long)v->total, (unsigned long long)want);
  return v->nproblems == 0 && v->received == v->expected;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

void sort_doubles(double *a, uint64_t n) { qsort(a, n, sizeof *a, cmp_double); }

double percentile_us(double *sorted, uint64_t n, double q) {
  if (n == 0) return 0;
  uint64_t i = (uint64_t)(q * (double)n);
  if (i >= n) i = n - 1;
  return sorted[i] / 1000.0;
}

/* ---- harness helpers ------------------------------------------------------- */

int fail(run_t *r, const char *fmt, ...) {
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(r->error, sizeof r->error, fmt, ap);
  va_end(ap);
  if (e && n > 0 && (size_t)n < sizeof r->error)
    snprintf(r->error + n, sizeof r->error - n, ": %s", strerror(e));
  return -1;
}

void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
  /* EINTR and EAGAIN both mean: look again */
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val, NULL, NULL, 0);
}

void futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

void producer_ready(run_t *r) {
  atomic_fetch_add(&r->ctl->ready, 1);
  futex_wake(&r->ctl->ready, 1);
  while (!atomic_load(&r->ctl->go)) futex_wait(&r->ctl->go, 0);
}

void consumer_start(run_t *r) {
  uint32_t n;
  while ((n = atomic_load(&r->ctl->ready)) < r->producers) futex_wait(&r->ctl->ready, n);
  r->t0 = now_ns();
  atomic_store(&r->ctl->go, 1);
  futex_wake(&r->ctl->go, INT_MAX);
}

void res_name(run_t *r, char *out, size_t n, const char *suffix) {
  snprintf(out, n, "/%s-%s", r->prefix, suffix);
}

void res_path(run_t *r, char *out, size_t n, const char *suffix) {
  snprintf(out, n, "%s/%s-%s", r->tmpdir, r->prefix, suffix);
}

uint64_t next_pow2(uint64_t x) {
  uint64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

/* ---- byte streams -------------------------------------------------------- */

int write_all(int fd, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int read_exact(int fd, void *buf, size_t n) {
  uint8_t *p = buf;
  while (n) {
    ssize_t k = read(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (k == 0) { errno = EPIPE; return -1; }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Sends M messages: small ones coalesced into BATCH_BYTES writes, large ones written one by one. */
int stream_produce(run_t *r, int id, int fd) {
  encoder_t e;
  enc_init(&e, (uint32_t)id, r->size);
  uint64_t m = r->messages;
  if (r->size * 2 > BATCH_BYTES) {
    for (uint64_t seq = 0; seq < m; seq++) {
      enc_patch(&e, e.tmpl, seq, now_ns());
      if (write_all(fd, e.tmpl, r->size)) return fail(r, "write");
    }
  } else {
    uint8_t *buf = aligned_alloc(64, BATCH_BYTES);
    size_t used = 0;
    for (uint64_t seq = 0; seq < m; seq++) {
      if (used + r->size > BATCH_BYTES) {
        if (write_all(fd, buf, used)) return fail(r, "write");
        used = 0;
      }
      enc_write(&e, buf + used, seq, now_ns());
      used += r->size;
    }
    if (used && write_all(fd, buf, used)) return fail(r, "write");
  }
  close(fd);
  return 0;
}

typedef struct {
  int fd, open;
  uint8_t *buf;
  size_t cap, len;
} stream_t;

/* Verifies every whole message in s->buf; keeps a partial tail. */
static int stream_parse(run_t *r, verifier_t *v, stream_t *s, double now) {
  size_t off = 0;
  while (s->len - off >= HDR_BYTES) {
    size_t mlen = HDR_BYTES + (size_t)rd32(s->buf + off + 4);
    if (mlen > s->cap) return fail(r, "framing lost: a header announces a %zu-byte message", mlen);
    if (s->len - off < mlen) break;
    ver_check(v, s->buf + off, mlen, now);
    off += mlen;
  }
  if (off) {
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
  }
  mark_progress(r, v);
  return 0;
}

static int stream_read(run_t *r, verifier_t *v, stream_t *s) {
  ssize_t k = read(s->fd, s->buf + s->len, s->cap - s->len);
  if (k < 0) {
    if (errno == EINTR || errno == EAGAIN) return 0;
    return fail(r, "read");
  }
  if (k == 0) {
    s->open = 0;
    close(s->fd);
    if (s->len) return fail(r, "stream ended inside a message (%zu bytes left over)", s->len);
    return 0;
  }
  s->len += (size_t)k;
  return stream_parse(r, v, s, now_ns());
}

/* Reads every stream to EOF, verifying as it goes. Call after consumer_start(). */
int stream_consume(run_t *r, verifier_t *v, int *fds, int n) {
  stream_t s[MAX_PRODUCERS];
  size_t cap = 4 * (size_t)BATCH_BYTES;
  if (cap < 2 * (size_t)r->size) cap = 2 * (size_t)r->size;
  for (int i = 0; i < n; i++) {
    s[i] = (stream_t){.fd = fds[i], .open = 1, .buf = aligned_alloc(64, cap), .cap = cap, .len = 0};
    if (!s[i].buf) return fail(r, "out of memory");
  }
  int open = n;
  struct pollfd pfd[MAX_PRODUCERS];
  while (open) {
    if (open == 1) { /* one stream left: plain blocking reads, no poll */
      for (int i = 0; i < n; i++)
        while (s[i].open)
          if (stream_read(r, v, &s[i])) return -1;
      break;
    }
    int k = 0, idx[MAX_PRODUCERS];
    for (int i = 0; i < n; i++)
      if (s[i].open) { pfd[k] = (struct pollfd){.fd = s[i].fd, .events = POLLIN}; idx[k++] = i; }
    int pr = poll(pfd, (nfds_t)k, -1);
    if (pr < 0) {
      if (errno == EINTR) continue;
      return fail(r, "poll");
    }
    for (int j = 0; j < k; j++)
      if (pfd[j].revents) {
        if (stream_read(r, v, &s[idx[j]])) return -1;
      }
    open = 0;
    for (int i = 0; i < n; i++) open += s[i].open;
  }
  for (int i = 0; i < n; i++) free(s[i].buf);
  return 0;
}

int stream_rt_echo(run_t *r, verifier_t *v, int rfd, int wfd) {
  uint8_t *buf = aligned_alloc(64, (r->size + 63) & ~63u);
  uint64_t total = r->roundtrips + r->warmup;
  for (uint64_t i = 0; i < total; i++) {
    if (read_exact(rfd, buf, r->size)) return fail(r, "echo read");
    ver_check(v, buf, r->size, now_ns());
    if (write_all(wfd, buf, r->size)) return fail(r, "echo write");
    if (i % NOTE_CPU_EVERY == 0) note_cpu(r);
  }
  note_cpu(r);
  return 0;
}

int stream_rt_ping(run_t *r, verifier_t *v, double *rtt, int rfd, int wfd) {
  encoder_t e;
  enc_init(&e, 0, r->size);
  uint8_t *buf = aligned_alloc(64, (r->size + 63) & ~63u);
  uint64_t total = r->roundtrips + r->warmup;
  for (uint64_t i = 0; i < total; i++) {
    double t = now_ns();
    enc_patch(&e, e.tmpl, i, t);
    if (write_all(wfd, e.tmpl, r->size)) return fail(r, "ping write");
    if (read_exact(rfd, buf, r->size)) return fail(r, "ping read");
    double back = now_ns();
    ver_check(v, buf, r->size, back);
    if (i >= r->warmup) rtt[i - r->warmup] = back - t;
    if (i % NOTE_CPU_EVERY == 0) note_cpu(r);
  }
  note_cpu(r);
  return 0;
}

/* ---- message-at-a-time round trip ----------------------------------------- */

int msg_rt_echo(run_t *r, verifier_t *v, msg_io_t *io) {
  size_t cap = (r->size + 63) & ~63u;
  uint8_t *buf = aligned_alloc(64, cap);
  uint64_t total = r->roundtrips + r->warmup;
  for (uint64_t i = 0; i < total; i++) {
    long n = io->recv(io->ctx, buf, cap);
    if (n < 0) return -1;
    ver_check(v, buf, (size_t)n, now_ns());
    if (io->send(io->ctx, buf, (size_t)n)) return -1;
    if (i % NOTE_CPU_EVERY == 0) note_cpu(r);
  }
  note_cpu(r);
  return 0;
}

int msg_rt_ping(run_t *r, verifier_t *v, double *rtt, msg_io_t *io) {
  encoder_t e;
  enc_init(&e, 0, r->size);
  size_t cap = (r->size + 63) & ~63u;
  uint8_t *buf = aligned_alloc(64, cap);
  uint64_t total = r->roundtrips + r->warmup;
  for (uint64_t i = 0; i < total; i++) {
    double t = now_ns();
    enc_patch(&e, e.tmpl, i, t);
    if (io->send(io->ctx, e.tmpl, r->size)) return -1;
    long n = io->recv(io->ctx, buf, cap);
    if (n < 0) return -1;
    double back = now_ns();
    ver_check(v, buf, (size_t)n, back);
    if (i >= r->warmup) rtt[i - r->warmup] = back - t;
    if (i % NOTE_CPU_EVERY == 0) note_cpu(r);
  }
  note_cpu(r);
  return 0;
}
