// Guarded shared mappings: a MAP_SHARED mapping of a file that a peer may
// shrink. Touching a page past the end of the file raises SIGBUS, which kills
// the process by default. Every mapping made here is registered; a SIGBUS
// inside one is answered the way Wayland compositors answer it for wl_shm
// pools: anonymous zero pages are mapped over the whole mapping (MAP_FIXED),
// the access is retried and succeeds, and the mapping is marked truncated.
// Callers check the mark where they wake and between batches, and end their
// channel with a typed error. A SIGBUS anywhere else goes to the handler that
// was installed before ours, or kills the process as it would have.
//
// The handler may run on any thread at any moment, so the registry is a
// fixed array of atomics: no lock, no allocation.
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include "common.h"

namespace ipc {
namespace {

// Mappings at once: as many as the kernel's default vm.max_map_count allows in all.
constexpr size_t kSlots = 65536;

enum SlotState : int { kFree = 0, kClaimed = 1, kLive = 2, kRetiring = 3 };

struct Slot {
  std::atomic<int> state{kFree};
  // Handlers looking at this slot right now: unmapping waits for them, so a
  // handler never maps over an address range that is no longer ours.
  std::atomic<int> busy{0};
  std::atomic<uintptr_t> start{0};
  std::atomic<size_t> length{0};
};

Slot g_slots[kSlots];
// One past the highest slot ever claimed: how far the handler looks.
std::atomic<size_t> g_used{0};
std::atomic<size_t> g_next{0};
// Seen by JavaScript through guardCounts(): [0] truncations in this process
// so far, [1 + slot] truncations of that slot's mapping (0 while intact).
// Written with atomic builtins; a slot's count is set before the total.
alignas(64) int32_t g_counts[1 + kSlots];

struct sigaction g_previous;
std::once_flag g_install;
bool g_installed = false;
int g_installError = 0;

// A SIGBUS that is not about one of our mappings: what would have happened without us.
void Chain(int sig, siginfo_t* info, void* context) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, context);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // The default action: a fault is retried on return and kills the process
  // now; a SIGBUS sent with kill(2) is sent again.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGBUS, &dfl, nullptr);
  if (info->si_code <= 0) raise(SIGBUS);
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  int saved = errno;
  uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  if (info->si_code == BUS_ADRERR) {
    size_t used = g_used.load(std::memory_order_acquire);
    for (size_t i = 0; i < used; i++) {
      Slot& s = g_slots[i];
      if (s.state.load(std::memory_order_acquire) != kLive) continue;
      s.busy.fetch_add(1, std::memory_order_seq_cst);
      uintptr_t start = s.start.load(std::memory_order_acquire);
      size_t length = s.length.load(std::memory_order_acquire);
      bool ours = s.state.load(std::memory_order_seq_cst) == kLive && addr >= start && addr - start < length;
      if (ours) {
        void* p = mmap(reinterpret_cast<void*>(start), length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        s.busy.fetch_sub(1, std::memory_order_acq_rel);
        if (p == MAP_FAILED) break;
        __atomic_add_fetch(&g_counts[1 + i], 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&g_counts[0], 1, __ATOMIC_SEQ_CST);
        errno = saved;
        return;
      }
      s.busy.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
  errno = saved;
  Chain(sig, info, context);
}

void Install() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnSigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, &g_previous) != 0) {
    g_installError = errno;
    return;
  }
  g_installed = true;
}

void Unmap(napi_env, void* data, void* hint) {
  Slot& s = g_slots[reinterpret_cast<uintptr_t>(hint)];
  s.state.store(kRetiring, std::memory_order_seq_cst);
  while (s.busy.load(std::memory_order_seq_cst) != 0) sched_yield();
  munmap(data, s.length.load(std::memory_order_relaxed));
  s.start.store(0, std::memory_order_relaxed);
  s.length.store(0, std::memory_order_relaxed);
  s.state.store(kFree, std::memory_order_release);
}

// A free slot, now kClaimed; kSlots when every slot is taken.
size_t Claim() {
  size_t from = g_next.load(std::memory_order_relaxed);
  for (size_t k = 0; k < kSlots; k++) {
    size_t i = (from + k) % kSlots;
    int expected = kFree;
    if (g_slots[i].state.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) {
      g_next.store(i + 1, std::memory_order_relaxed);
      size_t used = g_used.load(std::memory_order_acquire);
      while (used < i + 1 && !g_used.compare_exchange_weak(used, i + 1, std::memory_order_acq_rel)) {
      }
      return i;
    }
  }
  return kSlots;
}

// mapShared(fd, size, populate): mmap(2) PROT_READ|PROT_WRITE, MAP_SHARED
// (| MAP_POPULATE) of `size` bytes of `fd` from offset 0, registered with the
// SIGBUS guard. Returns { buffer, slot }; the mapping goes when `buffer` is
// collected.
Napi::Value MapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t size;
  bool populate;
  if (!FdArg(info, 0, &fd) || !IntArg(info, 1, "size", 1, static_cast<double>(1ULL << 46), &size) || !BoolArg(info, 2, "populate", &populate)) {
    return env.Undefined();
  }
  std::call_once(g_install, Install);
  if (!g_installed) return ThrowErrno(env, g_installError, "sigaction");
  size_t slot = Claim();
  if (slot == kSlots) return ThrowErrno(env, ENOMEM, "mmap");
  Slot& s = g_slots[slot];
  void* p = mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    s.state.store(kFree, std::memory_order_release);
    return ThrowErrno(env, err, "mmap");
  }
  __atomic_store_n(&g_counts[1 + slot], 0, __ATOMIC_SEQ_CST);
  s.start.store(reinterpret_cast<uintptr_t>(p), std::memory_order_relaxed);
  s.length.store(static_cast<size_t>(size), std::memory_order_relaxed);
  s.state.store(kLive, std::memory_order_release);
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), static_cast<size_t>(size), Unmap, reinterpret_cast<void*>(static_cast<uintptr_t>(slot))));
  out.Set("slot", Napi::Number::New(env, static_cast<double>(slot)));
  return out;
}

// guardCounts(): an Int32Array over the truncation counts (see g_counts).
Napi::Value GuardCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, g_counts, sizeof g_counts);
  return Napi::Int32Array::New(env, 1 + kSlots, ab, 0);
}

}  // namespace

void InitGuard(Napi::Env env, Napi::Object exports) {
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("guardCounts", Napi::Function::New(env, GuardCounts, "guardCounts"));
}

}  // namespace ipc
