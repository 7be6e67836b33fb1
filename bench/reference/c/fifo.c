/* Named pipe: one FIFO per producer (mkfifo 0600 in the temp dir), coalesced 64 KiB writes. */
#include "ref.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char paths[MAX_PRODUCERS][300];
static int npaths;

static int fifo_setup(run_t *r) {
  int n = r->roundtrips ? 2 : (int)r->producers;
  for (int i = 0; i < n; i++) {
    char suffix[32];
    snprintf(suffix, sizeof suffix, "fifo-%d", i);
    res_path(r, paths[i], sizeof paths[i], suffix);
    if (mkfifo(paths[i], 0600)) return fail(r, "mkfifo %s", paths[i]);
    npaths = i + 1;
  }
  return 0;
}

static int fifo_producer(run_t *r, int id) {
  int fd = open(paths[id], O_WRONLY | O_CLOEXEC); /* blocks until the consumer has opened it */
  if (fd < 0) return fail(r, "open %s for writing", paths[id]);
  producer_ready(r);
  return stream_produce(r, id, fd);
}

static int fifo_consumer(run_t *r, verifier_t *v) {
  int fds[MAX_PRODUCERS];
  for (int i = 0; i < (int)r->producers; i++) {
    fds[i] = open(paths[i], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fds[i] < 0) return fail(r, "open %s for reading", paths[i]);
  }
  consumer_start(r); /* every producer has opened its FIFO for writing */
  for (int i = 0; i < (int)r->producers; i++) fcntl(fds[i], F_SETFL, 0);
  return stream_consume(r, v, fds, (int)r->producers);
}

/* both sides open ping first, then pong: no deadlock */
static int fifo_rt_echo(run_t *r, verifier_t *v) {
  int rfd = open(paths[0], O_RDONLY | O_CLOEXEC);
  int wfd = rfd < 0 ? -1 : open(paths[1], O_WRONLY | O_CLOEXEC);
  if (rfd < 0 || wfd < 0) return fail(r, "open FIFOs");
  producer_ready(r);
  return stream_rt_echo(r, v, rfd, wfd);
}

static int fifo_rt_ping(run_t *r, verifier_t *v, double *rtt) {
  int wfd = open(paths[0], O_WRONLY | O_CLOEXEC);
  int rfd = wfd < 0 ? -1 : open(paths[1], O_RDONLY | O_CLOEXEC);
  if (rfd < 0 || wfd < 0) return fail(r, "open FIFOs");
  consumer_start(r);
  return stream_rt_ping(r, v, rtt, rfd, wfd);
}

static void fifo_cleanup(run_t *r) {
  (void)r;
  for (int i = 0; i < npaths; i++) unlink(paths[i]);
  npaths = 0;
}

const mech_t mech_fifo = {"fifo", NULL, fifo_setup, fifo_producer, fifo_consumer, fifo_rt_echo, fifo_rt_ping, fifo_cleanup};
