// The state behind one semaphore handle, shared by the calls in sem.cc (JS
// thread) and its waiter thread, and the optional "mark" a call stores (see
// sem.cc). Included by sem.cc only.
#pragma once
#include <semaphore.h>

#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common.h"

namespace ipc {
namespace sem {

constexpr long kSliceMs = 100;

struct Mark {
  int32_t* word = nullptr;
  int32_t value = 0;
};

struct WaitResult;

struct SemState {
  sem_t* sem = SEM_FAILED;
  std::string name;

  std::mutex mu;
  std::condition_variable cv;
  bool closing = false;       // close() was called: the thread exits
  bool cancel = false;        // the pending wait must give up
  bool hasRequest = false;    // a wait request is queued for the thread
  bool busy = false;          // a wait is pending (queued or running)
  double timeoutMs = -1;      // < 0: no deadline
  Mark mark;
  std::thread thread;
  bool threadStarted = false;
  bool released = false;      // the thread-safe function was released
  napi_env env = nullptr;     // set when the thread starts (cleanup hook)

  // JS-thread only.
  Napi::ThreadSafeFunction tsfn;
  Napi::FunctionReference pending;    // callback of the pending wait
  Napi::ObjectReference markHolder;   // keeps the mark's buffer alive

  ~SemState() {
    if (thread.joinable()) {
      if (thread.get_id() == std::this_thread::get_id()) thread.detach();
      else thread.join();
    }
    if (sem != SEM_FAILED) sem_close(sem);
  }
};

using StatePtr = std::shared_ptr<SemState>;

struct WaitResult {
  StatePtr state;
  int err = 0;         // 0: acquired; ETIMEDOUT, ECANCELED or an errno
};

struct Holder {
  StatePtr state;
};

inline StatePtr Unwrap(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  Holder* h = v.As<Napi::External<Holder>>().Data();
  return h ? h->state : nullptr;
}

inline bool ParseMark(const Napi::CallbackInfo& info, size_t at, Mark* out, Napi::Object* holder) {
  if (info.Length() <= at || !info[at].IsTypedArray()) return true;
  Napi::TypedArray ta = info[at].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_int32_array) return false;
  Napi::Int32Array arr = ta.As<Napi::Int32Array>();
  Napi::Value iv = info[at + 1], vv = info[at + 2];
  if (!iv.IsNumber() || !vv.IsNumber()) return false;
  double index = iv.As<Napi::Number>().DoubleValue();
  double value = vv.As<Napi::Number>().DoubleValue();
  if (!(index >= 0 && index < static_cast<double>(arr.ElementLength())) || std::trunc(index) != index) return false;
  if (!(value >= INT32_MIN && value <= INT32_MAX) || std::trunc(value) != value) return false;
  out->word = arr.Data() + static_cast<size_t>(index);
  out->value = static_cast<int32_t>(value);
  if (holder) *holder = arr;
  return true;
}

inline void StoreMark(const Mark& m) {
  if (m.word) __atomic_store_n(m.word, m.value, __ATOMIC_SEQ_CST);
}

}  // namespace sem
}  // namespace ipc
