/* Unix domain stream socket and TCP loopback: one connection per producer, coalesced 64 KiB writes. */
#include "ref.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_fd = -1;
static char uds_path[300];
static int uds_made;
static struct sockaddr_storage addr;
static socklen_t addr_len;
static int is_tcp;

static int sock_setup(run_t *r, int tcp) {
  is_tcp = tcp;
  memset(&addr, 0, sizeof addr);
  if (tcp) {
    struct sockaddr_in *in = (struct sockaddr_in *)&addr;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = 0;
    addr_len = sizeof *in;
  } else {
    struct sockaddr_un *un = (struct sockaddr_un *)&addr;
    res_path(r, uds_path, sizeof uds_path, "sock");
    if (strlen(uds_path) >= sizeof un->sun_path) return fail(r, "socket path too long: %s", uds_path);
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, uds_path);
    addr_len = sizeof *un;
  }
  listen_fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return fail(r, "socket");
  if (bind(listen_fd, (struct sockaddr *)&addr, addr_len)) return fail(r, "bind");
  if (!tcp) uds_made = 1;
  if (listen(listen_fd, MAX_PRODUCERS)) return fail(r, "listen");
  if (tcp && getsockname(listen_fd, (struct sockaddr *)&addr, &addr_len)) return fail(r, "getsockname");
  return 0;
}

static int uds_setup(run_t *r) { return sock_setup(r, 0); }
static int tcp_setup(run_t *r) { return sock_setup(r, 1); }

static void nodelay(int fd) {
  int one = 1;
  if (is_tcp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int sock_connect(run_t *r) {
  close(listen_fd);
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(r, "socket");
  if (connect(fd, (struct sockaddr *)&addr, addr_len)) return fail(r, "connect");
  nodelay(fd);
  return fd;
}

static int sock_producer(run_t *r, int id) {
  int fd = sock_connect(r);
  if (fd < 0) return -1;
  producer_ready(r);
  if (stream_produce(r, id, fd)) return -1;
  return 0;
}

static int sock_accept(run_t *r, int *fds, int n) {
  for (int i = 0; i < n; i++) {
    fds[i] = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fds[i] < 0) return fail(r, "accept");
    nodelay(fds[i]);
  }
  close(listen_fd);
  listen_fd = -1;
  return 0;
}

static int sock_consumer(run_t *r, verifier_t *v) {
  int fds[MAX_PRODUCERS];
  if (sock_accept(r, fds, (int)r->producers)) return -1;
  consumer_start(r);
  return stream_consume(r, v, fds, (int)r->producers);
}

static int sock_rt_echo(run_t *r, verifier_t *v) {
  int fd = sock_connect(r);
  if (fd < 0) return -1;
  producer_ready(r);
  return stream_rt_echo(r, v, fd, fd);
}

static int sock_rt_ping(run_t *r, verifier_t *v, double *rtt) {
  int fd;
  if (sock_accept(r, &fd, 1)) return -1;
  consumer_start(r);
  return stream_rt_ping(r, v, rtt, fd, fd);
}

static void sock_cleanup(run_t *r) {
  (void)r;
  if (uds_made) unlink(uds_path);
  uds_made = 0;
}

const mech_t mech_uds = {"uds", NULL, uds_setup, sock_producer, sock_consumer, sock_rt_echo, sock_rt_ping, sock_cleanup};
const mech_t mech_tcp = {"tcp", NULL, tcp_setup, sock_producer, sock_consumer, sock_rt_echo, sock_rt_ping, sock_cleanup};
