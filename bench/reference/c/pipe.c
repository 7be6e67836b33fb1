/* Anonymous pipe: one pipe per producer (pipe2 before fork), coalesced 64 KiB writes. */
#include "ref.h"

#include <fcntl.h>
#include <unistd.h>

static int fds[MAX_PRODUCERS][2]; /* stream: producer i writes fds[i][1]; round trip: [0] ping, [1] pong */

static int pipe_setup(run_t *r) {
  int n = r->roundtrips ? 2 : (int)r->producers;
  for (int i = 0; i < n; i++)
    if (pipe2(fds[i], O_CLOEXEC)) return fail(r, "pipe2");
  return 0;
}

static int pipe_producer(run_t *r, int id) {
  for (int i = 0; i < (int)r->producers; i++) {
    close(fds[i][0]);
    if (i != id) close(fds[i][1]);
  }
  producer_ready(r);
  return stream_produce(r, id, fds[id][1]);
}

static int pipe_consumer(run_t *r, verifier_t *v) {
  int rfd[MAX_PRODUCERS];
  for (int i = 0; i < (int)r->producers; i++) {
    close(fds[i][1]);
    rfd[i] = fds[i][0];
  }
  consumer_start(r);
  return stream_consume(r, v, rfd, (int)r->producers);
}

static int pipe_rt_echo(run_t *r, verifier_t *v) {
  close(fds[0][1]);
  close(fds[1][0]);
  producer_ready(r);
  return stream_rt_echo(r, v, fds[0][0], fds[1][1]);
}

static int pipe_rt_ping(run_t *r, verifier_t *v, double *rtt) {
  close(fds[0][0]);
  close(fds[1][1]);
  consumer_start(r);
  return stream_rt_ping(r, v, rtt, fds[1][0], fds[0][1]);
}

static void pipe_cleanup(run_t *r) { (void)r; /* nothing named */ }

const mech_t mech_pipe = {"pipe", NULL, pipe_setup, pipe_producer, pipe_consumer, pipe_rt_echo, pipe_rt_ping, pipe_cleanup};
