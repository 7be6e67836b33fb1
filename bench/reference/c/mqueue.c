/*
 * POSIX message queue: one queue shared by every producer, one kernel message
 * per scenario message (mq_send / mq_receive), at the machine's limits
 * (/proc/sys/fs/mqueue/msg_max and msgsize_max). Each producer ends with an
 * empty message; the consumer stops after one from each.
 */
#include "ref.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char names[2][128];
static int nnames;
static long msg_max, msgsize_max;

static long read_limit(const char *path, long fallback) {
  FILE *f = fopen(path, "r");
  long v = fallback;
  if (f) {
    if (fscanf(f, "%ld", &v) != 1) v = fallback;
    fclose(f);
  }
  return v;
}

static const char *mq_limit(run_t *r, char *why, size_t n) {
  msg_max = read_limit("/proc/sys/fs/mqueue/msg_max", 10);
  msgsize_max = read_limit("/proc/sys/fs/mqueue/msgsize_max", 8192);
  if ((long)r->size > msgsize_max) {
    snprintf(why, n, "message size %u exceeds the message queue limit of %ld bytes (/proc/sys/fs/mqueue/msgsize_max)",
             r->size, msgsize_max);
    return why;
  }
  return NULL;
}

static int mq_setup(run_t *r) {
  int n = r->roundtrips ? 2 : 1;
  for (int i = 0; i < n; i++) {
    char suffix[16];
    snprintf(suffix, sizeof suffix, "mq-%d", i);
    res_name(r, names[i], sizeof names[i], suffix);
    struct mq_attr a = {.mq_flags = 0, .mq_maxmsg = msg_max, .mq_msgsize = r->size, .mq_curmsgs = 0};
    mqd_t q = mq_open(names[i], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
    if (q == (mqd_t)-1) return fail(r, "mq_open %s (maxmsg %ld, msgsize %u)", names[i], msg_max, r->size);
    nnames = i + 1;
    mq_close(q);
  }
  return 0;
}

static int send_msg(run_t *r, mqd_t q, const uint8_t *m, size_t len) {
  while (mq_send(q, (const char *)m, len, 0))
    if (errno != EINTR) return fail(r, "mq_send");
  return 0;
}

static long recv_msg(run_t *r, mqd_t q, uint8_t *buf, size_t cap) {
  for (;;) {
    ssize_t n = mq_receive(q, (char *)buf, cap, NULL);
    if (n >= 0) return (long)n;
    if (errno != EINTR) return fail(r, "mq_receive");
  }
}

static int mqr_producer(run_t *r, int id) {
  mqd_t q = mq_open(names[0], O_WRONLY | O_CLOEXEC);
  if (q == (mqd_t)-1) return fail(r, "mq_open %s", names[0]);
  encoder_t e;
  enc_init(&e, (uint32_t)id, r->size);
  producer_ready(r);
  for (uint64_t seq = 0; seq < r->messages; seq++) {
    enc_patch(&e, e.tmpl, seq, now_ns());
    if (send_msg(r, q, e.tmpl, r->size)) return -1;
  }
  if (send_msg(r, q, e.tmpl, 0)) return -1; /* end of this producer */
  mq_close(q);
  return 0;
}

static int mqr_consumer(run_t *r, verifier_t *v) {
  mqd_t q = mq_open(names[0], O_RDONLY | O_CLOEXEC);
  if (q == (mqd_t)-1) return fail(r, "mq_open %s", names[0]);
  uint8_t *buf = aligned_alloc(64, (r->size + 63) & ~63u);
  consumer_start(r);
  for (uint32_t ended = 0; ended < r->producers;) {
    long n = recv_msg(r, q, buf, r->size);
    if (n < 0) return -1;
    if (n == 0) { ended++; continue; }
    ver_check(v, buf, (size_t)n, now_ns());
    mark_progress(r, v);
  }
  mq_close(q);
  return 0;
}

typedef struct { run_t *r; mqd_t out, in; } mq_io;
static int io_send(void *c, const uint8_t *m, size_t len) { mq_io *io = c; return send_msg(io->r, io->out, m, len); }
static long io_recv(void *c, uint8_t *b, size_t cap) { mq_io *io = c; return recv_msg(io->r, io->in, b, cap); }

static int mq_rt(run_t *r, verifier_t *v, double *rtt, int ping) {
  mq_io io = {r, mq_open(names[ping ? 0 : 1], O_WRONLY | O_CLOEXEC), mq_open(names[ping ? 1 : 0], O_RDONLY | O_CLOEXEC)};
  if (io.out == (mqd_t)-1 || io.in == (mqd_t)-1) return fail(r, "mq_open");
  msg_io_t m = {io_send, io_recv, &io};
  if (ping) {
    consumer_start(r);
    return msg_rt_ping(r, v, rtt, &m);
  }
  producer_ready(r);
  return msg_rt_echo(r, v, &m);
}
static int mq_rt_echo(run_t *r, verifier_t *v) { return mq_rt(r, v, NULL, 0); }
static int mq_rt_ping(run_t *r, verifier_t *v, double *rtt) { return mq_rt(r, v, rtt, 1); }

static void mq_cleanup(run_t *r) {
  (void)r;
  for (int i = 0; i < nnames; i++) mq_unlink(names[i]);
  nnames = 0;
}

const mech_t mech_mqueue = {"mqueue", mq_limit, mq_setup, mqr_producer, mqr_consumer, mq_rt_echo, mq_rt_ping, mq_cleanup};
