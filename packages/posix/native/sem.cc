// POSIX named semaphores: sem_open(3), sem_post(3), sem_trywait(3),
// sem_clockwait(3), sem_getvalue(3), sem_close(3), sem_unlink(3).
//
// Non-blocking calls run on the JS thread (an uncontended sem_trywait or
// sem_post is a user-space atomic in glibc; only a post that must wake a
// sleeper enters the kernel). A wait that may block runs on one dedicated
// waiter thread per handle, started on the first blocking wait and parked on
// a condition variable while idle; it sleeps in sem_clockwait slices of at
// most kSliceMs so that a cancel (or close) is noticed within one slice, and
// reports back through a thread-safe function. The libuv pool is never used.
//
// "Marks": tryWait/wait/post optionally take (Int32Array, index, value),
// stored right after a successful acquire (on the thread that made it) or
// right before a post: a crash-tolerant protocol over shared memory records
// who holds a unit with no window longer than a few instructions.
#include <limits.h>
#include <semaphore.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmath>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common.h"
#include "sem-state.h"

namespace ipc {
namespace {

using namespace sem;

// The waiter thread: one wait request at a time, sliced so cancel is seen.
void WaiterLoop(StatePtr s) {
  for (;;) {
    double timeoutMs;
    Mark mark;
    {
      std::unique_lock<std::mutex> lock(s->mu);
      s->cv.wait(lock, [&] { return s->hasRequest || s->closing; });
      if (!s->hasRequest) break;  // closing with nothing to answer
      s->hasRequest = false;
      timeoutMs = s->timeoutMs;
      mark = s->mark;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long nowNs = now.tv_sec * 1000000000LL + now.tv_nsec;
    long long deadlineNs = timeoutMs < 0 ? -1 : nowNs + static_cast<long long>(timeoutMs * 1e6);
    int err = 0;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->cancel || s->closing) {
          err = ECANCELED;
          break;
        }
      }
      clock_gettime(CLOCK_MONOTONIC, &now);
      nowNs = now.tv_sec * 1000000000LL + now.tv_nsec;
      long long sliceEnd = nowNs + kSliceMs * 1000000LL;
      bool last = false;
      if (deadlineNs >= 0 && deadlineNs <= sliceEnd) {
        sliceEnd = deadlineNs;
        last = true;
      }
      struct timespec ts;
      ts.tv_sec = static_cast<time_t>(sliceEnd / 1000000000LL);
      ts.tv_nsec = static_cast<long>(sliceEnd % 1000000000LL);
      if (sem_clockwait(s->sem, CLOCK_MONOTONIC, &ts) == 0) {
        StoreMark(mark);
        err = 0;
        break;
      }
      int e = errno;
      if (e == EINTR) continue;
      if (e == ETIMEDOUT) {
        if (last) {
          err = ETIMEDOUT;
          break;
        }
        continue;
      }
      err = e;
      break;
    }
    // The thread-safe function is only touched while `closing` is false,
    // under the lock close() takes to release it: after close (or at
    // environment teardown) this thread never calls into Node again.
    std::unique_lock<std::mutex> callLock(s->mu);
    if (s->closing) break;
    auto* r = new WaitResult{s, err};
    napi_status st = s->tsfn.NonBlockingCall(r, [](Napi::Env env, Napi::Function, WaitResult* res) {
      std::unique_ptr<WaitResult> own(res);
      StatePtr st = res->state;
      if (env == nullptr) return;
      Napi::HandleScope scope(env);
      Napi::Function cb = st->pending.IsEmpty() ? Napi::Function() : st->pending.Value();
      st->pending.Reset();
      st->markHolder.Reset();
      {
        std::lock_guard<std::mutex> lock(st->mu);
        if (st->closing) return;  // close() answered the caller already
        st->busy = false;
        st->cancel = false;
      }
      st->tsfn.Unref(env);
      if (cb.IsEmpty()) return;
      if (res->err == 0) {
        cb.Call({env.Null(), Napi::Boolean::New(env, true)});
      } else if (res->err == ETIMEDOUT) {
        cb.Call({env.Null(), Napi::Boolean::New(env, false)});
      } else {
        const char* sys = res->err == ECANCELED ? "sem_wait" : "sem_clockwait";
        cb.Call({ErrnoError(env, res->err, sys).Value(), Napi::Boolean::New(env, false)});
      }
    });
    if (st != napi_ok) {
      delete r;  // the environment is going away
      break;
    }
  }
}

void Shutdown(SemState* s, bool join);

// Runs before the thread-safe function's own teardown (hooks run in reverse
// order of registration): stop and join the waiter thread first.
void EnvTeardown(void* arg) {
  SemState* s = static_cast<SemState*>(arg);
  s->pending.Reset();
  s->markHolder.Reset();
  Shutdown(s, true);
}

// Stops the waiter thread and releases the thread-safe function. JS thread
// only. With `join`, waits for the thread (at most one wait slice).
void Shutdown(SemState* s, bool join) {
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->closing = true;
    s->cancel = true;
    if (s->threadStarted && !s->released) {
      s->released = true;
      s->tsfn.Release();
    }
  }
  s->cv.notify_all();
  if (s->env != nullptr) {
    napi_remove_env_cleanup_hook(s->env, EnvTeardown, s);
    s->env = nullptr;
  }
  if (s->thread.joinable()) {
    if (join) s->thread.join();
    else s->thread.detach();
  }
}

// semOpen(name, create, exclusive, mode, value) -> handle
Napi::Value SemOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  bool create, exclusive;
  unsigned mode;
  uint32_t value;
  if (!StringArg(info, 0, "name", &name) || !BoolArg(info, 1, "create", &create) || !BoolArg(info, 2, "exclusive", &exclusive) ||
      !ModeArg(info, 3, &mode) || !Uint32Arg(info, 4, "value", SEM_VALUE_MAX, &value)) {
    return env.Undefined();
  }
  if (name.size() < 2 || name[0] != '/' || name.find('/', 1) != std::string::npos) {
    ArgRangeError(info, "name must be one slash followed by a name without slashes");
    return env.Undefined();
  }
  sem_t* sem;
  if (create) {
    int flags = O_CREAT | (exclusive ? O_EXCL : 0);
    do {
      sem = sem_open(name.c_str(), flags, mode, value);
    } while (sem == SEM_FAILED && errno == EINTR);
    // The mode is exact, without touching the process umask (that would
    // race with other threads): a semaphore this call created (O_EXCL) is
    // fchmod'ed through its file, /dev/shm/sem.<name> on glibc.
    if (sem != SEM_FAILED && exclusive) {
      std::string file = "/dev/shm/sem." + name.substr(1);
      int fd;
      do fd = open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      while (fd < 0 && errno == EINTR);
      int err = fd < 0 ? errno : 0;
      if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) != 0) err = errno;
        else if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0) err = errno;
        close(fd);
      }
      if (err != 0) {
        sem_close(sem);
        sem_unlink(name.c_str());
        return ThrowErrno(env, err, "fchmod");
      }
    }
  } else {
    do {
      sem = sem_open(name.c_str(), 0);
    } while (sem == SEM_FAILED && errno == EINTR);
  }
  if (sem == SEM_FAILED) return ThrowErrno(env, errno, "sem_open");
  auto state = std::make_shared<SemState>();
  state->sem = sem;
  state->name = name;
  auto* holder = new Holder{state};
  return Napi::External<Holder>::New(env, holder, [](Napi::Env, Holder* h) {
    // Garbage-collected without close(): stop the thread, then drop.
    h->state->pending.Reset();
    h->state->markHolder.Reset();
    Shutdown(h->state.get(), false);
    delete h;
  });
}

StatePtr Checked(const Napi::CallbackInfo& info) {
  StatePtr s = Unwrap(info[0]);
  Napi::Env env = info.Env();
  if (!s) {
    Napi::TypeError::New(env, "not a semaphore handle").ThrowAsJavaScriptException();
    return nullptr;
  }
  if (s->sem == SEM_FAILED) {
    ErrnoError(env, EBADF, "sem_post").ThrowAsJavaScriptException();
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->closing) {
      ErrnoError(env, EBADF, "sem_close").ThrowAsJavaScriptException();
      return nullptr;
    }
  }
  return s;
}

// Checked(), and the optional mark at info[1..3].
StatePtr CheckedWithMark(const Napi::CallbackInfo& info, Mark* mark) {
  StatePtr s = Checked(info);
  if (s && !ParseMark(info, 1, mark, nullptr)) {
    Napi::RangeError::New(info.Env(), "mark must be (Int32Array, index in range, value)").ThrowAsJavaScriptException();
    return nullptr;
  }
  return s;
}

// semPost(handle[, marks, index, value])
Napi::Value SemPost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mark mark;
  StatePtr s = CheckedWithMark(info, &mark);
  if (!s) return env.Undefined();
  StoreMark(mark);
  if (sem_post(s->sem) != 0) return ThrowErrno(env, errno, "sem_post");
  return env.Undefined();
}

// semTryWait(handle[, marks, index, value]) -> true when acquired
Napi::Value SemTryWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mark mark;
  StatePtr s = CheckedWithMark(info, &mark);
  if (!s) return env.Undefined();
  for (;;) {
    if (sem_trywait(s->sem) == 0) {
      StoreMark(mark);
      return Napi::Boolean::New(env, true);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return Napi::Boolean::New(env, false);
    return ThrowErrno(env, errno, "sem_trywait");
  }
}

// semWait(handle, timeoutMs, callback(err, acquired)[, marks, index, value])
// timeoutMs < 0 waits without a deadline. One pending wait per handle.
Napi::Value SemWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StatePtr s = Checked(info);
  if (!s) return env.Undefined();
  int64_t timeoutMs = -1;
  if (!TimeoutArg(info, 1, &timeoutMs)) return env.Undefined();
  if (!info[2].IsFunction()) {
    Napi::TypeError::New(env, "semWait(handle, timeoutMs, callback): callback must be a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Mark mark;
  Napi::Object holder;
  if (!ParseMark(info, 3, &mark, &holder)) {
    Napi::RangeError::New(env, "mark must be (Int32Array, index in range, value)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->busy) {
      ErrnoError(env, EBUSY, "sem_wait").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  if (!s->threadStarted) {
    s->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "ipc_posix_sem_wait", 0, 1);
    s->tsfn.Unref(env);
    s->threadStarted = true;
    s->thread = std::thread(WaiterLoop, s);
    s->env = env;
    napi_add_env_cleanup_hook(env, EnvTeardown, s.get());
  }
  s->pending = Napi::Persistent(info[2].As<Napi::Function>());
  if (!holder.IsEmpty()) s->markHolder = Napi::Persistent(holder);
  s->tsfn.Ref(env);
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->busy = true;
    s->cancel = false;
    s->hasRequest = true;
    s->timeoutMs = static_cast<double>(timeoutMs);
    s->mark = mark;
  }
  s->cv.notify_all();
  return env.Undefined();
}

// semCancel(handle): the pending wait ends with ECANCELED within one slice
// (unless it acquired first: then the callback reports the acquire).
Napi::Value SemCancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StatePtr s = Unwrap(info[0]);
  if (!s) return env.Undefined();
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->busy) s->cancel = true;
  }
  s->cv.notify_all();
  return env.Undefined();
}

Napi::Value SemGetValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StatePtr s = Checked(info);
  if (!s) return env.Undefined();
  int v = 0;
  if (sem_getvalue(s->sem, &v) != 0) return ThrowErrno(env, errno, "sem_getvalue");
  return Napi::Number::New(env, v);
}

// semClose(handle): drops a pending wait (its callback is never called: the
// caller answers it), stops the waiter thread within one slice, and
// sem_close()s once the thread has let go. Idempotent.
Napi::Value SemClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StatePtr s = Unwrap(info[0]);
  if (!s) return env.Undefined();
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->closing) return env.Undefined();
  }
  s->pending.Reset();
  s->markHolder.Reset();
  bool started = s->threadStarted;
  Shutdown(s.get(), false);
  // Without a thread nothing else uses the semaphore: close it now. With
  // one, ~SemState closes it once the thread (the last owner) is done.
  if (!started) {
    sem_close(s->sem);
    s->sem = SEM_FAILED;
  }
  return env.Undefined();
}

// semUnlink(name): removes the name; processes that have it open keep it.
Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!StringArg(info, 0, "name", &name)) return env.Undefined();
  if (sem_unlink(name.c_str()) != 0) return ThrowErrno(env, errno, "sem_unlink");
  return env.Undefined();
}

}  // namespace

void InitSem(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports, {{"semOpen", SemOpen}, {"semPost", SemPost}, {"semTryWait", SemTryWait}, {"semWait", SemWait},
                                 {"semCancel", SemCancel}, {"semGetValue", SemGetValue}, {"semClose", SemClose}, {"semUnlink", SemUnlink}});
  exports.Set("SEM_VALUE_MAX", Napi::Number::New(env, SEM_VALUE_MAX));
  exports.Set("SEM_WAIT_SLICE_MS", Napi::Number::New(env, static_cast<double>(kSliceMs)));
}

}  // namespace ipc
