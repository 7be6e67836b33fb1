/*
 * ipc-ref <mechanism> [--producers P] [--messages M] [--size S] [--roundtrip N]
 *         [--warmup W] [--timeout SECONDS] [--spin N] [--tmpdir DIR]
 *         [--pinger-cpu C] [--ponger-cpu C]
 * ipc-ref encode --producer-id ID --seq N --size S    (prints one message as hex)
 * ipc-ref list                                           (prints the mechanisms)
 *
 * Runs the ipc-sampler scenario over one mechanism between real processes:
 * the parent is the consumer, P forked children are the producers. Prints
 * exactly one JSON line on stdout. Exit code 0 when ok, 1 otherwise.
 *
 * Round trip (--roundtrip N): the parent pings, one forked child echoes.
 * --pinger-cpu / --ponger-cpu pin each side to one CPU with sched_setaffinity
 * (the parent before the fork, the child right after it), so the two sides
 * can really sit on different CPUs: a taskset around the parent alone would
 * be inherited by the child. The record's "cpus" lists the CPUs each side was
 * seen running on (sched_getcpu, sampled during the run); a pinned side seen
 * anywhere else makes the record fail.
 */
#include "ref.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const mech_t *const mechs[] = {&mech_pipe, &mech_fifo, &mech_mqueue, &mech_shm,
                                      &mech_mmap, &mech_uds, &mech_tcp, &mech_semaphore};

static run_t g_run;
static const mech_t *g_mech;
static verifier_t *g_ver;
static pid_t g_kids[MAX_PRODUCERS];
static int g_nkids;
static volatile sig_atomic_t g_dying;

static void json_str(char *out, size_t n, const char *s) {
  size_t o = 0;
  for (; *s && o + 8 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
    else if (c < 0x20) o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
    else out[o++] = (char)c;
  }
  out[o] = 0;
}

static void print_head(char *buf, size_t n) {
  run_t *r = &g_run;
  if (r->roundtrips)
    snprintf(buf, n,
             "{\"transport\":\"c-%s\",\"kind\":\"reference-c\",\"mechanism\":\"%s\",\"mode\":\"roundtrip\","
             "\"size\":%u,\"roundTrips\":%llu",
             r->mech, r->mech, r->size, (unsigned long long)r->roundtrips);
  else
    snprintf(buf, n,
             "{\"transport\":\"c-%s\",\"kind\":\"reference-c\",\"mechanism\":\"%s\",\"producers\":%u,"
             "\"messages\":%llu,\"size\":%u",
             r->mech, r->mech, r->producers, (unsigned long long)r->messages, r->size);
}

/* Prints the one failure record and exits; safe enough to call from a signal handler here. */
static void die_record(const char *key, const char *msg) {
  if (g_dying) _exit(1);
  g_dying = 1;
  for (int i = 0; i < g_nkids; i++)
    if (g_kids[i] > 0) kill(g_kids[i], SIGKILL);
  if (g_mech && g_mech->cleanup) g_mech->cleanup(&g_run);
  char head[512], esc[1100], line[2048];
  print_head(head, sizeof head);
  json_str(esc, sizeof esc, msg);
  int n = snprintf(line, sizeof line, "%s,\"ok\":false,\"%s\":\"%s\"}\n", head, key, esc);
  if (write(1, line, (size_t)n) < 0) _exit(1);
  for (int i = 0; i < g_nkids; i++)
    if (g_kids[i] > 0) waitpid(g_kids[i], NULL, 0);
  _exit(1);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  die_record("error", msg);
}

static void on_signal(int sig) {
  if (sig == SIGALRM) {
    if (g_ver)
      die("timed out after %d s with %llu of %llu messages received", g_run.timeout_s,
          (unsigned long long)g_ver->received, (unsigned long long)g_ver->expected);
    die("timed out after %d s", g_run.timeout_s);
  }
  if (sig == SIGCHLD) {
    for (int i = 0; i < g_nkids; i++) {
      siginfo_t si;
      si.si_pid = 0;
      if (g_kids[i] <= 0 || waitid(P_PID, (id_t)g_kids[i], &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0)
        continue;
      if (si.si_code == CLD_EXITED && si.si_status == 0) continue;
      const char *who = g_run.roundtrips ? "echo process" : "producer";
      if (atomic_load(&g_run.ctl->err_set))
        die("%s %d failed: %s", who, i, g_run.ctl->child_err);
      if (si.si_code == CLD_EXITED) die("%s %d exited with status %d", who, i, si.si_status);
      die("%s %d killed by signal %d", who, i, si.si_status);
    }
    return;
  }
  die("interrupted by signal %d", sig);
}

static void child_exit(run_t *r, int rc) {
  if (rc) {
    uint32_t expect = 0;
    if (atomic_compare_exchange_strong(&r->ctl->err_set, &expect, 1))
      snprintf(r->ctl->child_err, sizeof r->ctl->child_err, "%s", r->error[0] ? r->error : "failed");
    _exit(2);
  }
  _exit(0);
}

static void usage(void) {
  fprintf(stderr,
          "usage: ipc-ref <mechanism> [--producers P] [--messages M] [--size S] [--roundtrip N]\n"
          "               [--warmup W] [--timeout SECONDS] [--spin N] [--tmpdir DIR]\n"
          "               [--pinger-cpu C] [--ponger-cpu C]   (round trip: pin each side to a CPU)\n"
          "       ipc-ref encode --producer-id ID --seq N --size S\n"
          "       ipc-ref list\n"
          "mechanisms:");
  for (size_t i = 0; i < sizeof mechs / sizeof *mechs; i++) fprintf(stderr, " %s", mechs[i]->name);
  fprintf(stderr, "\n");
  exit(2);
}

static uint64_t num_arg(const char *flag, const char *s, uint64_t min, uint64_t max) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s ? s : "", &end, 10);
  if (!s || errno || *end || v < min || v > max) {
    fprintf(stderr, "ipc-ref: %s wants an integer from %llu to %llu, got %s\n", flag, (unsigned long long)min,
            (unsigned long long)max, s ? s : "nothing");
    exit(2);
  }
  return v;
}

/* Pins the calling process to one CPU; 0 or -1 with errno. */
static int pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set);
}

/* Appends ,"<key>":[c0,c1,...] for the CPUs in set. */
static int json_cpus(char *out, size_t n, const char *key, const cpu_set_t *set) {
  int o = snprintf(out, n, "\"%s\":[", key), first = 1;
  for (int c = 0; c < CPU_SETSIZE && (size_t)o + 8 < n; c++)
    if (CPU_ISSET(c, set)) { o += snprintf(out + o, n - o, "%s%d", first ? "" : ",", c); first = 0; }
  return o + snprintf(out + o, n - o, "]");
}

/* NULL when a pinned side was seen only on its CPU, else the problem, written into why. */
static const char *check_pins(run_t *r, char *why, size_t n) {
  static const char *who[2] = {"ping process", "echo process"};
  for (int side = 0; side < 2; side++) {
    const cpu_set_t *seen = &r->ctl->seen[side];
    if (CPU_COUNT(seen) == 0) { snprintf(why, n, "the %s never reported its CPU", who[side]); return why; }
    if (r->pin[side] < 0) continue;
    if (CPU_COUNT(seen) != 1 || !CPU_ISSET(r->pin[side], seen)) {
      char list[256];
      json_cpus(list, sizeof list, "cpus", seen);
      snprintf(why, n, "the %s was pinned to CPU %d but ran on %s", who[side], r->pin[side], strchr(list, '['));
      return why;
    }
  }
  return NULL;
}

static double cpu_ms(const struct rusage *ru) {
  return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e3 +
         (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  run_t *r = &g_run;
  r->mech = argv[1];
  r->producers = 1;
  r->messages = 100000;
  r->size = 64;
  r->timeout_s = 120;
  r->spin = 200;
  r->pin[SIDE_PINGER] = r->pin[SIDE_PONGER] = -1;
  const char *td = getenv("TMPDIR");
  snprintf(r->tmpdir, sizeof r->tmpdir, "%s", td && *td ? td : "/tmp");
  uint64_t producer_id = 0, seq = 0;
  int warmup_set = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--producers")) r->producers = (uint32_t)num_arg(a, v, 1, MAX_PRODUCERS);
    else if (!strcmp(a, "--messages")) r->messages = num_arg(a, v, 1, 1ull << 40);
    else if (!strcmp(a, "--size")) r->size = (uint32_t)num_arg(a, v, HDR_BYTES, 64u << 20);
    else if (!strcmp(a, "--roundtrip")) r->roundtrips = num_arg(a, v, 1, 1ull << 32);
    else if (!strcmp(a, "--warmup")) { r->warmup = num_arg(a, v, 0, 1ull << 32); warmup_set = 1; }
    else if (!strcmp(a, "--timeout")) r->timeout_s = (int)num_arg(a, v, 1, 86400);
    else if (!strcmp(a, "--spin")) r->spin = (int)num_arg(a, v, 0, 1u << 24);
    else if (!strcmp(a, "--pinger-cpu")) r->pin[SIDE_PINGER] = (int)num_arg(a, v, 0, CPU_SETSIZE - 1);
    else if (!strcmp(a, "--ponger-cpu")) r->pin[SIDE_PONGER] = (int)num_arg(a, v, 0, CPU_SETSIZE - 1);
    else if (!strcmp(a, "--producer-id")) producer_id = num_arg(a, v, 0, MAX_PRODUCERS - 1);
    else if (!strcmp(a, "--seq")) seq = num_arg(a, v, 0, 1ull << 52);
    else if (!strcmp(a, "--tmpdir") && v) snprintf(r->tmpdir, sizeof r->tmpdir, "%s", v);
    else usage();
    i++;
  }
  if (!strcmp(r->mech, "list")) {
    for (size_t i = 0; i < sizeof mechs / sizeof *mechs; i++) printf("%s\n", mechs[i]->name);
    return 0;
  }
  if (!strcmp(r->mech, "encode")) { /* cross-check against the TypeScript encoder */
    encoder_t e;
    enc_init(&e, (uint32_t)producer_id, r->size);
    enc_patch(&e, e.tmpl, seq, 12345678.0);
    for (uint32_t i = 0; i < r->size; i++) printf("%02x", e.tmpl[i]);
    printf("\n");
    return 0;
  }
  for (size_t i = 0; i < sizeof mechs / sizeof *mechs; i++)
    if (!strcmp(mechs[i]->name, r->mech)) g_mech = mechs[i];
  if (!g_mech) usage();
  if (!r->roundtrips && (r->pin[SIDE_PINGER] >= 0 || r->pin[SIDE_PONGER] >= 0)) {
    fprintf(stderr, "ipc-ref: --pinger-cpu and --ponger-cpu apply to --roundtrip runs only\n");
    exit(2);
  }
  if (r->roundtrips) {
    r->producers = 1;
    if (!warmup_set) r->warmup = r->roundtrips / 10 < 1000 ? r->roundtrips / 10 : 1000;
  }
  snprintf(r->prefix, sizeof r->prefix, "ipcref-%d", (int)getpid());

  char why[512];
  if (g_mech->limit && g_mech->limit(r, why, sizeof why)) {
    const mech_t *m = g_mech;
    g_mech = NULL; /* nothing to clean up */
    (void)m;
    die_record("skipped", why);
  }

  r->ctl = mmap(NULL, sizeof(ctl_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r->ctl == MAP_FAILED) die("mmap control block: %s", strerror(errno));

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  sa.sa_flags = 0;
  sigaction(SIGALRM, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (g_mech->setup(r)) die("%s", r->error);
  if (r->roundtrips && r->pin[SIDE_PINGER] >= 0 && pin_to(r->pin[SIDE_PINGER]))
    die("cannot pin the ping process to CPU %d: %s", r->pin[SIDE_PINGER], strerror(errno));
  alarm((unsigned)r->timeout_s);

  uint32_t nkids = r->roundtrips ? 1 : r->producers;
  pid_t parent = getpid();
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  for (uint32_t i = 0; i < nkids; i++) {
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
      signal(SIGCHLD, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      signal(SIGALRM, SIG_DFL);
      sigprocmask(SIG_SETMASK, &old, NULL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(3);
      int rc;
      if (r->roundtrips) {
        r->side = SIDE_PONGER;
        if (r->pin[SIDE_PONGER] >= 0 && pin_to(r->pin[SIDE_PONGER]))
          child_exit(r, fail(r, "cannot pin the echo process to CPU %d", r->pin[SIDE_PONGER]));
        verifier_t v;
        ver_init(&v, 1, r->roundtrips + r->warmup, r->size);
        rc = g_mech->rt_echo(r, &v);
        if (!rc && !ver_finish(&v)) rc = fail(r, "echo side verification: %s", v.problem);
      } else {
        rc = g_mech->producer(r, (int)i);
      }
      child_exit(r, rc);
    }
    g_kids[g_nkids++] = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
  }

  verifier_t v;
  char line[2048], head[512], esc[1100];
  print_head(head, sizeof head);
  if (r->roundtrips) {
    ver_init(&v, 1, r->roundtrips + r->warmup, r->size);
    g_ver = &v;
    double *rtt = malloc(r->roundtrips * sizeof(double));
    if (!rtt) die("out of memory");
    if (g_mech->rt_ping(r, &v, rtt)) die("%s", r->error);
    sigprocmask(SIG_BLOCK, &block, NULL);
    int st;
    if (waitpid(g_kids[0], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      g_kids[0] = 0;
      die("echo process failed: %s", atomic_load(&r->ctl->err_set) ? r->ctl->child_err : "abnormal exit");
    }
    g_kids[0] = 0;
    alarm(0);
    g_mech->cleanup(r);
    int ok = ver_finish(&v);
    char why[512];
    const char *pin_problem = check_pins(r, why, sizeof why);
    sort_doubles(rtt, r->roundtrips);
    int n = snprintf(line, sizeof line, "%s,\"p50Us\":%.2f,\"p99Us\":%.2f,\"p999Us\":%.2f,\"warmup\":%llu,\"ok\":%s",
                     head, percentile_us(rtt, r->roundtrips, 0.5), percentile_us(rtt, r->roundtrips, 0.99),
                     percentile_us(rtt, r->roundtrips, 0.999), (unsigned long long)r->warmup,
                     ok && !pin_problem ? "true" : "false");
    for (int side = 0; side < 2; side++)
      if (r->pin[side] >= 0)
        n += snprintf(line + n, sizeof line - n, ",\"%s\":%d", side == SIDE_PINGER ? "pingerCpu" : "pongerCpu", r->pin[side]);
    n += snprintf(line + n, sizeof line - n, ",\"cpus\":{");
    n += json_cpus(line + n, sizeof line - n, "pinger", &r->ctl->seen[SIDE_PINGER]);
    n += snprintf(line + n, sizeof line - n, ",");
    n += json_cpus(line + n, sizeof line - n, "ponger", &r->ctl->seen[SIDE_PONGER]);
    n += snprintf(line + n, sizeof line - n, "}");
    if (!ok || pin_problem) {
      json_str(esc, sizeof esc, !ok ? v.problem : pin_problem);
      n += snprintf(line + n, sizeof line - n, ",\"error\":\"%s\"", esc);
    }
    printf("%s}\n", line);
    ok = ok && !pin_problem;
    return ok ? 0 : 1;
  }

  ver_init(&v, r->producers, r->messages, r->size);
  g_ver = &v;
  if (g_mech->consumer(r, &v)) die("%s", r->error);
  if (r->t_end == 0) r->t_end = now_ns();

  /* reap producers: their CPU time summed, their peak RSS the largest of them */
  sigprocmask(SIG_BLOCK, &block, NULL);
  double prod_cpu = 0;
  long prod_rss = 0;
  for (int i = 0; i < g_nkids; i++) {
    int st;
    struct rusage ru;
    if (wait4(g_kids[i], &st, 0, &ru) < 0) die("wait4: %s", strerror(errno));
    g_kids[i] = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      die("producer %d failed: %s", i, atomic_load(&r->ctl->err_set) ? r->ctl->child_err : "abnormal exit");
    prod_cpu += cpu_ms(&ru);
    if (ru.ru_maxrss > prod_rss) prod_rss = ru.ru_maxrss;
  }
  alarm(0);
  g_mech->cleanup(r);
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);

  int ok = ver_finish(&v);
  double elapsed = (r->t_end - r->t0) / 1e6;
  double msgs = (double)v.expected;
  sort_doubles(v.samples, v.nsamples);
  int n = snprintf(line, sizeof line,
                   "%s,\"elapsedMs\":%.3f,\"msgsPerSec\":%.0f,\"mbPerSec\":%.2f,\"latencyP50Us\":%.2f,"
                   "\"latencyP99Us\":%.2f,\"total\":%llu,\"ok\":%s",
                   head, elapsed, msgs / (elapsed / 1e3), msgs * r->size / 1e6 / (elapsed / 1e3),
                   percentile_us(v.samples, v.nsamples, 0.5), percentile_us(v.samples, v.nsamples, 0.99),
                   (unsigned long long)v.total, ok ? "true" : "false");
  if (!ok) {
    char msg[700];
    snprintf(msg, sizeof msg, "%s (%llu problems, %llu of %llu messages received)", v.problem,
             (unsigned long long)v.nproblems, (unsigned long long)v.received, (unsigned long long)v.expected);
    json_str(esc, sizeof esc, msg);
    n += snprintf(line + n, sizeof line - n, ",\"error\":\"%s\"", esc);
  }
  printf("%s,\"cpuMs\":{\"consumer\":%.1f,\"producers\":%.1f},\"peakRssBytes\":{\"consumer\":%ld,\"producers\":%ld}}\n",
         line, cpu_ms(&self), prod_cpu, self.ru_maxrss * 1024L, prod_rss * 1024L);
  return ok ? 0 : 1;
}
