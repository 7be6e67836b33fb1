// The readiness family: uv_poll(3) watchers on the Node event loop,
// pidfd_open(2), and non-blocking read/write on watched descriptors that
// report EAGAIN as a value instead of an exception.
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>
#include "common.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace ipc {

// new FdWatcher(fd, callback(status, events)): a uv_poll_t on the main loop.
// While started, the handle keeps the loop alive (unless unref'd) and the
// JavaScript object alive; close() releases both. The callback runs through
// node::MakeCallback, so promises it settles run their reactions at once.
class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {InstanceMethod<&FdWatcher::Start>("start"), InstanceMethod<&FdWatcher::Stop>("stop"),
                        InstanceMethod<&FdWatcher::Close>("close"), InstanceMethod<&FdWatcher::SetRef>("setRef")});
  }

  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    int fd;
    if (!FdArg(info, 0, &fd)) return;
    if (!info[1].IsFunction()) {
      Napi::TypeError::New(env, "new FdWatcher(fd, callback): callback must be a function").ThrowAsJavaScriptException();
      return;
    }
    env_ = env;
    fd_ = fd;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "FdWatcher: no event loop").ThrowAsJavaScriptException();
      return;
    }
    handle_ = new uv_poll_t;
    int rc = uv_poll_init(loop, handle_, fd_);
    if (rc != 0) {
      delete handle_;
      handle_ = nullptr;
      ErrnoError(env, -rc, "uv_poll_init").ThrowAsJavaScriptException();
      return;
    }
    handle_->data = this;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    napi_async_init(env, info.This(), Napi::String::New(env, "FdWatcher"), &context_);
  }

  ~FdWatcher() override {
    ReleaseHandle();
    if (context_ != nullptr) napi_async_destroy(env_, context_);
  }

 private:
  // start(events): UV_READABLE 1 | UV_WRITABLE 2 | UV_DISCONNECT 4.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (handle_ == nullptr) return ThrowErrno(env, EBADF, "uv_poll_start");
    int events;
    if (!Int32Arg(info, 0, "events", 0, UV_READABLE | UV_WRITABLE | UV_DISCONNECT, &events)) return env.Undefined();
    int rc = uv_poll_start(handle_, events, OnPoll);
    if (rc != 0) return ThrowErrno(env, -rc, "uv_poll_start");
    if (!pinned_) {
      Ref();
      pinned_ = true;
    }
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_poll_stop(handle_);
    Unpin();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    ReleaseHandle();
    Unpin();
    callback_.Reset();
    return info.Env().Undefined();
  }

  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) {
      if (info[0].ToBoolean().Value()) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
      else uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    }
    return info.Env().Undefined();
  }

  void Unpin() {
    if (pinned_) {
      pinned_ = false;
      Unref();
    }
  }

  void ReleaseHandle() {
    if (handle_ == nullptr) return;
    uv_poll_stop(handle_);
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->env_;
    Napi::HandleScope scope(env);
    Napi::Object recv = self->Value();
    // libuv stops the handle itself after an error (POLLERR).
    if (status < 0) self->Unpin();
    self->callback_.MakeCallback(recv, {Napi::Number::New(env, status), Napi::Number::New(env, events)}, self->context_);
    if (env.IsExceptionPending()) {
      Napi::Error err = env.GetAndClearPendingException();
      napi_fatal_exception(env, err.Value());
    }
  }

  napi_env env_ = nullptr;
  int fd_ = -1;
  uv_poll_t* handle_ = nullptr;
  bool pinned_ = false;
  Napi::FunctionReference callback_;
  napi_async_context context_ = nullptr;
};

// pidfdOpen(pid) -> fd (O_CLOEXEC), or -1 when no such process exists (ESRCH).
static Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid;
  if (!Int32Arg(info, 0, "pid", 1, INT32_MAX, &pid)) return env.Undefined();
  long fd = syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0);
  if (fd < 0) {
    if (errno == ESRCH) return Napi::Number::New(env, -1);
    return ThrowErrno(env, errno, "pidfd_open");
  }
  return Napi::Number::New(env, static_cast<double>(fd));
}

// One non-blocking read(2) or write(2) of a buffer slice: bytes moved, or -1
// when the descriptor has nothing to give or no room now (EAGAIN). EINTR is
// retried.
static Napi::Value TransferNonBlocking(const Napi::CallbackInfo& info, bool writing) {
  Napi::Env env = info.Env();
  FdSlice a;
  if (!FdSliceArgs(info, &a)) return env.Undefined();
  ssize_t n = RetryEintr([&] { return writing ? write(a.fd, a.data + a.off, a.len) : read(a.fd, a.data + a.off, a.len); });
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    return ThrowErrno(env, errno, writing ? "write" : "read");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// readNonBlocking(fd, buffer, offset, length) -> bytes read, 0 at end of file, -1 when nothing is there now.
static Napi::Value ReadNonBlocking(const Napi::CallbackInfo& info) {
  return TransferNonBlocking(info, false);
}

// writeNonBlocking(fd, buffer, offset, length) -> bytes written, or -1 when the descriptor is full.
static Napi::Value WriteNonBlocking(const Napi::CallbackInfo& info) {
  return TransferNonBlocking(info, true);
}

// writeEach(fd, buffer, pairs, from, count, pageRun = 0) -> how many slices
// were written whole. Each (start, length) slice in `pairs` goes out in its
// own write(2), so a slice of at most PIPE_BUF bytes is atomic on a pipe or
// FIFO. Stops at the first EAGAIN. A short write, which the kernel only does
// for a slice over PIPE_BUF, throws EIO: callers keep slices at most PIPE_BUF
// long.
//
// pageRun (a power of two, at most PIPE_BUF): adjacent slices of exactly that
// length go out together in one write(2). Linux's pipe_write() puts a write
// whose length is a multiple of the page size into whole pages of its own
// (it merges into the last page only the length modulo the page size) and
// lets another writer in only between pages (it waits for room with the
// pipe's mutex released only there, and a non-blocking write returns a
// short count of whole pages instead of waiting). So such a run never tears
// a slice: every cut falls between slices. One write(2) per run instead of
// one per slice, for the fragments of large messages.
static bool PageRunArg(const Napi::CallbackInfo& info, size_t index, int32_t* out) {
  *out = 0;
  if (info.Length() <= index || info[index].IsUndefined()) return true;
  if (!Int32Arg(info, index, "pageRun", 0, PIPE_BUF, out)) return false;
  if (*out & (*out - 1)) return ArgRangeError(info, "pageRun must be 0 or a power of two");
  static const long page = sysconf(_SC_PAGESIZE);
  if (*out != 0 && (page <= 0 || page % *out != 0)) *out = 0;  // pages not made of whole runs: one write per slice
  return true;
}

static Napi::Value WriteEach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdPairRun a;
  int32_t pageRun;
  if (!FdPairRunArgs(info, &a) || !PageRunArg(info, 5, &pageRun)) return env.Undefined();
  int64_t done = 0;
  while (done < a.count) {
    int32_t start = a.pairs[2 * (a.from + done)];
    int32_t len = a.pairs[2 * (a.from + done) + 1];
    if (!SliceInside(env, start, len, a.size)) return env.Undefined();
    int64_t run = 1;
    if (pageRun != 0 && len == pageRun) {
      // Adjacent full slices join, up to 1 MiB per write(2).
      while (done + run < a.count && run < (1 << 20) / pageRun) {
        int32_t s2 = a.pairs[2 * (a.from + done + run)];
        int32_t l2 = a.pairs[2 * (a.from + done + run) + 1];
        if (l2 != pageRun || s2 != start + run * pageRun) break;
        if (!SliceInside(env, s2, l2, a.size)) return env.Undefined();
        run++;
      }
    }
    size_t bytes = static_cast<size_t>(len) * static_cast<size_t>(run);
    ssize_t n = RetryEintr([&] { return write(a.fd, a.data + start, bytes); });
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (done > 0) break;  // report progress; the next call sees the error
      return ThrowErrno(env, errno, "write");
    }
    if (run == 1) {
      if (n != len) return ThrowErrno(env, EIO, "write");  // torn: only possible over PIPE_BUF
      done++;
      continue;
    }
    if (n % pageRun != 0) return ThrowErrno(env, EIO, "write");  // a cut inside a slice: not Linux's pipe_write()
    done += n / pageRun;
    if (static_cast<size_t>(n) < bytes) break;  // full
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

void InitPoll(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
  ExportFunctions(env, exports, {{"pidfdOpen", PidfdOpen}, {"readNonBlocking", ReadNonBlocking}, {"writeNonBlocking", WriteNonBlocking}, {"writeEach", WriteEach}});
  exports.Set("UV_READABLE", Napi::Number::New(env, UV_READABLE));
  exports.Set("UV_WRITABLE", Napi::Number::New(env, UV_WRITABLE));
  exports.Set("UV_DISCONNECT", Napi::Number::New(env, UV_DISCONNECT));
}

}  // namespace ipc
