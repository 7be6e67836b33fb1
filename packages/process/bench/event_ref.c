// C reference for the Event wake-up case: two processes, a word in shared
// memory, FUTEX_WAIT/FUTEX_WAKE, one-way latency from a CLOCK_MONOTONIC stamp
// taken just before the wake to the waiter's return. Usage:
//   cc -O2 -o /tmp/event_ref packages/process/bench/event_ref.c && /tmp/event_ref [rounds] [setter-cpu waiter-cpu] [hot]
// With two CPU numbers each side pins itself (split CPUs: 0 1; same CPU: 0 0).
// With "hot" the setter sets again as soon as the waiter acknowledged (a
// hand-off) instead of sleeping 1 ms first so that the waiter is asleep.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared { uint32_t go, ack; int64_t stamp; int64_t lat[100000]; };

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
static void fwait(uint32_t* w, uint32_t v) {
  while (__atomic_load_n(w, __ATOMIC_SEQ_CST) == v) syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}
static void fset(uint32_t* w) {
  __atomic_store_n(w, 1, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}
static int cmp(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return x < y ? -1 : x > y;
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(3);
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 2000;
  int setterCpu = argc > 3 ? atoi(argv[2]) : -1, waiterCpu = argc > 3 ? atoi(argv[3]) : -1;
  int hot = argc > 4;
  if (rounds < 1 || rounds > 100000) return 2;
  struct shared* s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    pin(waiterCpu);
    for (int i = 0; i < rounds; i++) {
      fwait(&s->go, 0);
      s->lat[i] = now_ns() - s->stamp;
      __atomic_store_n(&s->go, 0, __ATOMIC_SEQ_CST);
      fset(&s->ack);
    }
    _exit(0);
  }
  pin(setterCpu);
  for (int i = 0; i < rounds; i++) {
    if (!hot) usleep(1000);
    s->stamp = now_ns();
    fset(&s->go);
    fwait(&s->ack, 0);
    __atomic_store_n(&s->ack, 0, __ATOMIC_SEQ_CST);
  }
  waitpid(pid, NULL, 0);
  qsort(s->lat, rounds, sizeof s->lat[0], cmp);
  printf("{\"case\":\"C futex set -> wait wake-up (one way%s)\",\"rounds\":%d,", hot ? ", hand-off" : "", rounds);
  printf("\"p50us\":%.1f,\"p99us\":%.1f}\n", s->lat[rounds / 2] / 1000.0, s->lat[(int)(rounds * 0.99)] / 1000.0);
  return 0;
}
