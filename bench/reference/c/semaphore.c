/*
 * The classic bounded buffer: K slots in a POSIX shared memory segment, and
 * three POSIX named semaphores: empty (K), full (0) and a mutex (1).
 *   producer: wait(empty); wait(mutex); put at in++; post(mutex); post(full)
 *   consumer: wait(full);  wait(mutex); take out++;  post(mutex); verify; post(empty)
 * The consumer verifies the message in its slot after leaving the mutex and
 * before posting empty (the slot cannot be reused until then). Each producer
 * ends with an empty message; the consumer stops after one from each.
 * glibc's sem_wait/sem_post only enter the kernel (futex) when they must wait or wake;
 * a wait first tries sem_trywait --spin times before it blocks.
 */
#include "ref.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOT_HDR 64u

typedef struct {
  _Alignas(64) uint64_t in;
  _Alignas(64) uint64_t out;
} bb_hdr_t;

typedef struct {
  bb_hdr_t *h;
  uint8_t *slots;
  sem_t *empty, *full, *mutex;
} bb_t;

static char shm_name[128], sem_names[2][3][128];
static int shm_made, nsems[2];
static uint32_t k_slots, slot_size;
static size_t buf_size, seg_size;
static int nbufs;

static int spin;
static const char *const role[3] = {"empty", "full", "mutex"};

static int sem_setup(run_t *r) {
  nbufs = r->roundtrips ? 2 : 1;
  spin = r->spin;
  slot_size = (SLOT_HDR + r->size + 63) & ~63u;
  k_slots = 64;
  while (k_slots > 2 && (uint64_t)k_slots * slot_size > (16u << 20)) k_slots /= 2;
  buf_size = 4096 + (size_t)k_slots * slot_size;
  seg_size = buf_size * (size_t)nbufs;
  res_name(r, shm_name, sizeof shm_name, "bb");
  int fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return fail(r, "shm_open %s", shm_name);
  shm_made = 1;
  int rc = ftruncate(fd, (off_t)seg_size);
  close(fd);
  if (rc) return fail(r, "ftruncate %s", shm_name);
  for (int b = 0; b < nbufs; b++) {
    for (int i = 0; i < 3; i++) {
      char suffix[32];
      snprintf(suffix, sizeof suffix, "bb%d-%s", b, role[i]);
      res_name(r, sem_names[b][i], sizeof sem_names[b][i], suffix);
      unsigned init = i == 0 ? k_slots : i == 1 ? 0 : 1;
      sem_t *s = sem_open(sem_names[b][i], O_CREAT | O_EXCL, 0600, init);
      if (s == SEM_FAILED) return fail(r, "sem_open %s", sem_names[b][i]);
      nsems[b] = i + 1;
      sem_close(s);
    }
  }
  return 0;
}

static int bb_open(run_t *r, int b, bb_t *bb) {
  int fd = shm_open(shm_name, O_RDWR, 0600);
  if (fd < 0) return fail(r, "shm_open %s", shm_name);
  uint8_t *p = mmap(NULL, seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return fail(r, "mmap %s", shm_name);
  bb->h = (bb_hdr_t *)(p + (size_t)b * buf_size);
  bb->slots = (uint8_t *)bb->h + 4096;
  sem_t **s[3] = {&bb->empty, &bb->full, &bb->mutex};
  for (int i = 0; i < 3; i++) {
    *s[i] = sem_open(sem_names[b][i], 0);
    if (*s[i] == SEM_FAILED) return fail(r, "sem_open %s", sem_names[b][i]);
  }
  return 0;
}

/* wait: try a few times without sleeping (--spin), then block in sem_wait */
static inline void P(sem_t *s) {
  for (int i = 0; i < spin; i++) {
    if (sem_trywait(s) == 0) return;
    cpu_relax();
  }
  while (sem_wait(s)) { /* EINTR: wait again */ }
}
static inline void V(sem_t *s) { sem_post(s); }

/* put: encode (or copy) into the next slot under the mutex */
static inline void bb_put(bb_t *bb, const encoder_t *e, uint64_t seq, const uint8_t *copy, uint32_t len) {
  P(bb->empty);
  P(bb->mutex);
  uint8_t *slot = bb->slots + (size_t)(bb->h->in++ % k_slots) * slot_size;
  wr32(slot, len);
  if (copy) memcpy(slot + SLOT_HDR, copy, len);
  else if (len) enc_write(e, slot + SLOT_HDR, seq, now_ns());
  V(bb->mutex);
  V(bb->full);
}

/* take: the slot to read; call bb_done when finished with it */
static inline uint8_t *bb_take(bb_t *bb, uint32_t *len) {
  P(bb->full);
  P(bb->mutex);
  uint8_t *slot = bb->slots + (size_t)(bb->h->out++ % k_slots) * slot_size;
  V(bb->mutex);
  *len = rd32(slot);
  return slot + SLOT_HDR;
}
static inline void bb_done(bb_t *bb) { V(bb->empty); }

static int sem_producer(run_t *r, int id) {
  bb_t bb;
  if (bb_open(r, 0, &bb)) return -1;
  encoder_t e;
  enc_init(&e, (uint32_t)id, r->size);
  producer_ready(r);
  for (uint64_t seq = 0; seq < r->messages; seq++) bb_put(&bb, &e, seq, NULL, r->size);
  bb_put(&bb, &e, 0, NULL, 0); /* end of this producer */
  return 0;
}

static int sem_consumer(run_t *r, verifier_t *v) {
  bb_t bb;
  if (bb_open(r, 0, &bb)) return -1;
  consumer_start(r);
  for (uint32_t ended = 0; ended < r->producers;) {
    uint32_t len;
    uint8_t *m = bb_take(&bb, &len);
    if (len == 0) ended++;
    else if (len > r->size) return fail(r, "slot announces %u bytes", len);
    else {
      ver_check(v, m, len, now_ns());
      mark_progress(r, v);
    }
    bb_done(&bb);
  }
  return 0;
}

typedef struct { bb_t out, in; } sem_io;
static int io_send(void *c, const uint8_t *m, size_t len) {
  sem_io *io = c;
  bb_put(&io->out, NULL, 0, m, (uint32_t)len);
  return 0;
}
static long io_recv(void *c, uint8_t *buf, size_t cap) {
  sem_io *io = c;
  uint32_t len;
  uint8_t *m = bb_take(&io->in, &len);
  if (len > cap) len = (uint32_t)cap;
  memcpy(buf, m, len);
  bb_done(&io->in);
  return (long)len;
}

static int sem_rt(run_t *r, verifier_t *v, double *rtt, int ping) {
  sem_io io;
  if (bb_open(r, ping ? 0 : 1, &io.out) || bb_open(r, ping ? 1 : 0, &io.in)) return -1;
  msg_io_t m = {io_send, io_recv, &io};
  if (ping) {
    consumer_start(r);
    return msg_rt_ping(r, v, rtt, &m);
  }
  producer_ready(r);
  return msg_rt_echo(r, v, &m);
}
static int sem_rt_echo(run_t *r, verifier_t *v) { return sem_rt(r, v, NULL, 0); }
static int sem_rt_ping(run_t *r, verifier_t *v, double *rtt) { return sem_rt(r, v, rtt, 1); }

static void sem_cleanup(run_t *r) {
  (void)r;
  for (int b = 0; b < 2; b++) {
    for (int i = 0; i < nsems[b]; i++) sem_unlink(sem_names[b][i]);
    nsems[b] = 0;
  }
  if (shm_made) shm_unlink(shm_name);
  shm_made = 0;
}

const mech_t mech_semaphore = {"semaphore", NULL, sem_setup, sem_producer, sem_consumer, sem_rt_echo, sem_rt_ping, sem_cleanup};
