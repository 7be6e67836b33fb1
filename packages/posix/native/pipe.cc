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
  int flags;
  if (!Int32Arg(info, 0, "flags", 0, INT32_MAX, &flags)) return env.Undefined();
  if ((flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) != 0) {
    ArgRangeError(info, "flags may only combine O_CLOEXEC, O_NONBLOCK and O_DIRECT");
    return env.Undefined();
  }
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
  int fd, size;
  if (!FdArg(info, 0, &fd) || !Int32Arg(info, 1, "bytes", 0, INT32_MAX, &size)) return env.Undefined();
  int got = fcntl(fd, F_SETPIPE_SZ, size);
  if (got < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, got);
}

static Napi::Value GetPipeSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  int got = fcntl(fd, F_GETPIPE_SZ);
  if (got < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, got);
}

// mkfifo(path, mode): exclusive by nature (EEXIST if the path exists). The
// process umask is left alone (changing it would race with other threads):
// the FIFO is created with the umask narrowing `mode`, then opened without
// following links and fchmod'ed to exactly `mode`. Until then it is only
// ever narrower than asked.
static Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  unsigned mode;
  if (!StringArg(info, 0, "path", &path) || !ModeArg(info, 1, &mode)) return env.Undefined();
  if (mkfifo(path.c_str(), mode) != 0) return ThrowErrno(env, errno, "mkfifo");
  int fd;
  do fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return ThrowErrno(env, errno, "open");
  struct stat st;
  int err = 0;
  if (fstat(fd, &st) != 0) err = errno;
  else if (!S_ISFIFO(st.st_mode)) err = EEXIST;  // replaced under us
  else if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0) err = errno;
  close(fd);
  if (err != 0) return ThrowErrno(env, err, "fchmod");
  return env.Undefined();
}

static Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  if (close(fd) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

void InitPipe(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports, {{"pipe2", Pipe2}, {"setPipeSize", SetPipeSize}, {"getPipeSize", GetPipeSize}, {"mkfifo", Mkfifo}, {"close", Close}});
  exports.Set("O_CLOEXEC", Napi::Number::New(env, O_CLOEXEC));
  exports.Set("O_NONBLOCK", Napi::Number::New(env, O_NONBLOCK));
  exports.Set("PIPE_BUF", Napi::Number::New(env, PIPE_BUF));
}

}  // namespace ipc
