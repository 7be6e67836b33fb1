// futex(2) on a 32-bit word in shared memory: the cross-process wake-up of
// the shm ring and the mmap journal. FUTEX_WAIT / FUTEX_WAKE without
// FUTEX_PRIVATE_FLAG, so the kernel keys the wait on the backing page and a
// waiter in one process is woken by a waker in another.
//
// Waking is one direct system call. Waiting never blocks the event loop and
// never parks a libuv pool thread: where the kernel runs FUTEX_WAIT on an
// io_uring (futex-ring.h), each FutexWaiter queues its wait on a ring of its
// own whose fd the loop polls, so a wake-up reaches the loop's thread
// directly. Elsewhere each FutexWaiter owns one thread that sleeps on a
// condition variable while disarmed and in FUTEX_WAIT while armed, and
// reports each outcome through a thread-safe function.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <thread>
#include "common.h"
#include "futex-ring.h"

namespace ipc {

namespace {

enum WaitOutcome { kWoken = 0, kTimedOut = 1, kCancelled = 2 };

long Futex(uint32_t* addr, int op, uint32_t val, const struct timespec* ts) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}

// The address of byte `byteOffset` of a TypedArray, Buffer, DataView or
// ArrayBuffer, checked for bounds and 4-byte alignment. Throws on failure
// (returns nullptr with a pending exception).
uint32_t* WordAddress(Napi::Env env, Napi::Value target, Napi::Value offsetValue) {
  if (!offsetValue.IsNumber()) {
    Napi::TypeError::New(env, "byteOffset must be a number").ThrowAsJavaScriptException();
    return nullptr;
  }
  double offsetD = offsetValue.As<Napi::Number>().DoubleValue();
  if (!(offsetD >= 0 && offsetD <= kMaxSafe) || std::trunc(offsetD) != offsetD) {
    Napi::RangeError::New(env, "byteOffset must be a non-negative integer").ThrowAsJavaScriptException();
    return nullptr;
  }
  int64_t offset = static_cast<int64_t>(offsetD);
  uint8_t* base = nullptr;
  size_t length = 0;
  if (target.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = target.As<Napi::ArrayBuffer>();
    base = static_cast<uint8_t*>(ab.Data());
    length = ab.ByteLength();
  } else if (target.IsTypedArray()) {
    // The data pointer straight from napi: it is valid for views of a
    // SharedArrayBuffer too, where asking the buffer for its data fails.
    napi_typedarray_type type;
    size_t count = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, target, &type, &count, &data, nullptr, nullptr) != napi_ok) data = nullptr;
    base = static_cast<uint8_t*>(data);
    length = target.As<Napi::TypedArray>().ByteLength();
  } else if (target.IsDataView()) {
    void* data = nullptr;
    if (napi_get_dataview_info(env, target, &length, &data, nullptr, nullptr) != napi_ok) data = nullptr;
    base = static_cast<uint8_t*>(data);
  } else {
    Napi::TypeError::New(env, "the futex word must live in an ArrayBuffer, a TypedArray or a DataView").ThrowAsJavaScriptException();
    return nullptr;
  }
  if (base == nullptr || offset < 0 || static_cast<uint64_t>(offset) + 4 > length) {
    Napi::RangeError::New(env, "the futex word is outside the buffer").ThrowAsJavaScriptException();
    return nullptr;
  }
  uint8_t* p = base + offset;
  if ((reinterpret_cast<uintptr_t>(p) & 3) != 0) {
    Napi::RangeError::New(env, "the futex word must be 4-byte aligned").ThrowAsJavaScriptException();
    return nullptr;
  }
  return reinterpret_cast<uint32_t*>(p);
}

// The expected value of a wait (any 32-bit pattern, signed or not) and its
// timeout (undefined or negative: none; see TimeoutArg for the cap).
bool WaitArgs(const Napi::CallbackInfo& info, size_t index, uint32_t* expected, int64_t* timeoutMs) {
  int64_t e;
  if (!IntArg(info, index, "expected", INT32_MIN, UINT32_MAX, &e)) return false;
  *expected = static_cast<uint32_t>(e);
  if (info[index + 1].IsUndefined()) {
    *timeoutMs = -1;
    return true;
  }
  return TimeoutArg(info, index + 1, timeoutMs);
}

// FUTEX_WAIT with an optional relative timeout (ms < 0: none), retried on
// EINTR with the remaining time. Returns a WaitOutcome; `cancel` is checked
// between retries.
int WaitOn(uint32_t* addr, uint32_t expected, int64_t timeoutMs, const std::atomic<bool>* cancel) {
  struct timespec deadline {};
  if (timeoutMs >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeoutMs / 1000;
    deadline.tv_nsec += (timeoutMs % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  for (;;) {
    if (cancel != nullptr && cancel->load(std::memory_order_acquire)) return kCancelled;
    if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) != expected) return kWoken;
    struct timespec rel {};
    struct timespec* ts = nullptr;
    if (timeoutMs >= 0) {
      struct timespec now {};
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t ns = (deadline.tv_sec - now.tv_sec) * 1000000000LL + (deadline.tv_nsec - now.tv_nsec);
      if (ns <= 0) return kTimedOut;
      rel.tv_sec = ns / 1000000000LL;
      rel.tv_nsec = ns % 1000000000LL;
      ts = &rel;
    }
    long rc = Futex(addr, FUTEX_WAIT, expected, ts);
    if (cancel != nullptr && cancel->load(std::memory_order_acquire)) return kCancelled;
    if (rc == 0) return kWoken;  // woken (possibly spuriously: the caller re-checks)
    if (errno == EAGAIN) return kWoken;  // the word had changed already
    if (errno == ETIMEDOUT) return kTimedOut;
    if (errno == EINTR) continue;
    return kWoken;  // EFAULT and the like: let the caller look at the word
  }
}

// futexWake(target, byteOffset, count) -> number of waiters woken
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* addr = WordAddress(env, info[0], info[1]);
  if (addr == nullptr) return env.Undefined();
  int count = INT_MAX;
  if (!info[2].IsUndefined()) {
    int64_t c;
    if (!IntArg(info, 2, "count", -kMaxSafe, kMaxSafe, &c)) return env.Undefined();
    if (c > 0 && c < INT_MAX) count = static_cast<int>(c);
  }
  long rc = Futex(addr, FUTEX_WAKE, static_cast<uint32_t>(count), nullptr);
  if (rc < 0) return ThrowErrno(env, errno, "futex");
  return Napi::Number::New(env, static_cast<double>(rc));
}

// futexWaitSync(target, byteOffset, expected, timeoutMs) -> 0 woken / not equal, 1 timed out.
// Blocks the calling thread: for worker threads and tests, never the main loop.
Napi::Value FutexWaitSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t* addr = WordAddress(env, info[0], info[1]);
  if (addr == nullptr) return env.Undefined();
  uint32_t expected;
  int64_t timeoutMs;
  if (!WaitArgs(info, 2, &expected, &timeoutMs)) return env.Undefined();
  return Napi::Number::New(env, WaitOn(addr, expected, timeoutMs, nullptr));
}

class FutexWaiter;
void DeliverOutcome(Napi::Env env, Napi::Function callback, FutexWaiter* waiter, int* outcome);
using WaiterTsfn = Napi::TypedThreadSafeFunction<FutexWaiter, int, DeliverOutcome>;

// new FutexWaiter(target, byteOffset, callback(outcome))
//   wait(expected, timeoutMs): arms one wait; callback(0 woken | 1 timed out | 2 cancelled)
//   cancel(): ends the armed wait with outcome 2
//   close(): stops the thread; the waiter cannot be used again
class FutexWaiter : public Napi::ObjectWrap<FutexWaiter> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FutexWaiter",
                       {InstanceMethod("wait", &FutexWaiter::Wait), InstanceMethod("cancel", &FutexWaiter::Cancel),
                        InstanceMethod("close", &FutexWaiter::Close)});
  }

  explicit FutexWaiter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FutexWaiter>(info) {
    Napi::Env env = info.Env();
    addr_ = WordAddress(env, info[0], info[1]);
    if (addr_ == nullptr) return;
    if (!info[2].IsFunction()) {
      Napi::TypeError::New(env, "callback must be a function").ThrowAsJavaScriptException();
      return;
    }
    target_ = Napi::Persistent(info[0].As<Napi::Object>());  // keeps the mapping alive
    if (!StartRing(env, info.This().As<Napi::Object>(), info[2].As<Napi::Function>())) {
      tsfn_ = WaiterTsfn::New(env, info[2].As<Napi::Function>(), "ipc-sampler futex waiter", 0, 1, this);
      tsfn_.Unref(env);
      thread_ = std::thread([this] { Run(); });
    }
    started_ = true;
    // A waiter still open when the environment is torn down (the program ended
    // without close()) must stop its thread and let go of the thread-safe
    // function before Node finalizes that function; finalizing this object
    // afterwards would touch a freed one and abort the exiting process.
    // Hooks run in reverse order, so this one runs before the function's own.
    env_ = env;
    hooked_ = napi_add_env_cleanup_hook(env, &FutexWaiter::AtTeardown, this) == napi_ok;
  }

  ~FutexWaiter() override {
    Stop(false);
    if (context_ != nullptr) napi_async_destroy(env_, context_);
  }

  void Delivered(Napi::Env env) {
    if (!closed_ && pending_ == 0) tsfn_.Unref(env);
  }

  bool usesRing() const { return ring_.active(); }

  int pending_ = 0;  // armed waits whose outcome has not reached JS yet (main thread only)

 private:
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || !started_) {
      Napi::Error::New(env, "this futex waiter is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t expected;
    int64_t timeoutMs;
    if (!WaitArgs(info, 0, &expected, &timeoutMs)) return env.Undefined();
    if (usesRing()) return ArmRing(env, expected, timeoutMs);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (armed_ || pending_ > 0) {
        Napi::Error::New(env, "this futex waiter is already waiting").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      armed_ = true;
      expected_ = expected;
      timeoutMs_ = timeoutMs;
      cancel_.store(false, std::memory_order_release);
    }
    // An armed wait keeps the process alive, and this object too: its
    // outcome is delivered through `this` even after close() or after the
    // caller dropped the last reference (DeliverOutcome lets go).
    if (pending_++ == 0) Ref();
    tsfn_.Ref(env);
    cv_.notify_one();
    return env.Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (usesRing()) {
      ring_.Cancel();
      return info.Env().Undefined();
    }
    CancelArmed();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop(true);
    return info.Env().Undefined();
  }

  // Wakes the thread out of an armed wait. A FUTEX_WAKE sent just before the
  // thread enters FUTEX_WAIT would be lost, so repeat until it has noticed.
  void CancelArmed() {
    cancel_.store(true, std::memory_order_release);
    for (int i = 0; i < 20000; i++) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!armed_) return;
      }
      Futex(addr_, FUTEX_WAKE, INT_MAX, nullptr);
      usleep(50);
    }
  }

  static void AtTeardown(void* self) {
    FutexWaiter* waiter = static_cast<FutexWaiter*>(self);
    waiter->hooked_ = false;  // a hook must not remove itself while it runs
    waiter->Stop(false);
  }

  void Stop(bool releaseTsfn) {
    if (!started_ || closed_) return;
    closed_ = true;
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, &FutexWaiter::AtTeardown, this);
      hooked_ = false;
    }
    if (usesRing()) {
      StopRing(releaseTsfn);
      target_.Reset();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_one();
    CancelArmed();
    if (thread_.joinable()) thread_.join();
    if (releaseTsfn) tsfn_.Release();
    else tsfn_.Abort();
    target_.Reset();
  }

  // ---- the io_uring path (see futex-ring.h) ----

  bool StartRing(Napi::Env env, Napi::Object self, Napi::Function callback) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr || !ring_.Start(loop, this, &OnRingOutcome)) return false;
    ringCallback_ = Napi::Persistent(callback);
    napi_async_init(env, self, Napi::String::New(env, "FutexWaiter"), &context_);
    return true;
  }

  Napi::Value ArmRing(Napi::Env env, uint32_t expected, int64_t timeoutMs) {
    if (pending_ > 0) {
      Napi::Error::New(env, "this futex waiter is already waiting").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int rc = ring_.Arm(addr_, expected, timeoutMs);
    if (rc != 0) return ThrowErrno(env, -rc, "io_uring_enter");
    pending_ = 1;
    Ref();
    return env.Undefined();
  }

  // Runs on the loop, as the thread-safe function's calls do, and like them settles promises at once.
  static void OnRingOutcome(void* owner, int outcome) {
    auto* self = static_cast<FutexWaiter*>(owner);
    Napi::Env env = self->env_;
    Napi::HandleScope scope(env);
    Napi::Object recv = self->Value();
    self->pending_ = 0;
    self->Unref();  // `recv` keeps the object alive through the call
    if (self->closed_) self->ring_.Close();
    self->ringCallback_.MakeCallback(recv, {Napi::Number::New(env, outcome)}, self->context_);
    if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }

  // close() with a wait armed cancels it and closes the ring once the
  // outcome is delivered, as the thread path does; at teardown, when
  // nothing can be delivered, or when the cancel cannot be queued, now.
  void StopRing(bool fromJs) {
    if (fromJs && pending_ > 0 && ring_.Cancel()) return;
    if (pending_ > 0) {
      pending_ = 0;
      if (fromJs) Unref();
    }
    ring_.Close();
  }

  void Run() {
    for (;;) {
      uint32_t expected;
      int64_t timeoutMs;
      bool quitting;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return armed_ || quit_; });
        if (quit_ && !armed_) return;
        expected = expected_;
        timeoutMs = timeoutMs_;
        quitting = quit_;
      }
      int outcome = quitting ? kCancelled : WaitOn(addr_, expected, timeoutMs, &cancel_);
      {
        std::lock_guard<std::mutex> lock(mu_);
        armed_ = false;
      }
      tsfn_.NonBlockingCall(new int(outcome));
      std::lock_guard<std::mutex> lock(mu_);
      if (quit_) return;
    }
  }

  uint32_t* addr_ = nullptr;
  Napi::ObjectReference target_;
  WaiterTsfn tsfn_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> cancel_{false};
  bool armed_ = false;
  bool quit_ = false;
  uint32_t expected_ = 0;
  int64_t timeoutMs_ = -1;
  bool started_ = false;
  bool closed_ = false;
  napi_env env_ = nullptr;
  bool hooked_ = false;
  RingWait ring_;  // active where io_uring waits on futexes; then there is no thread
  Napi::FunctionReference ringCallback_;
  napi_async_context context_ = nullptr;
};

void DeliverOutcome(Napi::Env env, Napi::Function callback, FutexWaiter* waiter, int* outcome) {
  int value = *outcome;
  delete outcome;
  if (env == nullptr) return;  // torn down: nothing to report to
  bool last = waiter->pending_ > 0 && --waiter->pending_ == 0;
  waiter->Delivered(env);
  if (last) waiter->Unref();  // after this, `waiter` may be collected
  callback.Call({Napi::Number::New(env, value)});
}

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
  exports.Set("futexWake", Napi::Function::New(env, FutexWake));
  exports.Set("futexWaitSync", Napi::Function::New(env, FutexWaitSync));
  exports.Set("FutexWaiter", FutexWaiter::Define(env));
}

}  // namespace ipc
