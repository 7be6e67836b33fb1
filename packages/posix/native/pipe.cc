// pipe2(2), fcntl(F_SETPIPE_SZ / F_GETPIPE_SZ), mkfifo(3): the pipe family.
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"

namespace ipc {

// pipe2(flags) -> [readFd, writeFd]
static Napi::Value Pipe2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags = info[0].As<Napi::Number>().Int32Value();
  int fds[2];
  if (pipe2(fds, flags) != 0) return ThrowErrno(env, errno, "pipe2");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// setPipeSize(fd, bytes) -> the size the kernel granted
static Napi::Value SetPipeSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int size = info[1].As<Napi::Number>().Int32Value();
  int got = fcntl(fd, F_SETPIPE_SZ, size);
  if (got < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, got);
}

static Napi::Value GetPipeSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int got = fcntl(fd, F_GETPIPE_SZ);
  if (got < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, got);
}

// mkfifo(path, mode): exclusive by nature (EEXIST if the path exists).
static Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  mode_t mode = static_cast<mode_t>(info[1].As<Napi::Number>().Uint32Value());
  mode_t old = umask(0);
  int rc = mkfifo(path.c_str(), mode);
  int err = errno;
  umask(old);
  if (rc != 0) return ThrowErrno(env, err, "mkfifo");
  return env.Undefined();
}

static Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (close(fd) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

void InitPipe(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe2", Napi::Function::New(env, Pipe2));
  exports.Set("setPipeSize", Napi::Function::New(env, SetPipeSize));
  exports.Set("getPipeSize", Napi::Function::New(env, GetPipeSize));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("O_CLOEXEC", Napi::Number::New(env, O_CLOEXEC));
  exports.Set("O_NONBLOCK", Napi::Number::New(env, O_NONBLOCK));
  exports.Set("PIPE_BUF", Napi::Number::New(env, PIPE_BUF));
}

}  // namespace ipc
