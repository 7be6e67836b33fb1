// Shared helpers for the addon: every failure becomes a JS Error carrying
// `code` (errno name), `errno` (negative, as libuv reports it) and `syscall`;
// the TypeScript side turns it into a ChannelError.
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstring>

namespace ipc {

inline const char* ErrnoName(int err) {
  switch (err) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES)
    E(EEXIST) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOSPC)
    E(EPIPE) E(ENAMETOOLONG) E(ENOSYS) E(EMSGSIZE) E(ETIMEDOUT) E(ENXIO)
    E(EOVERFLOW) E(EBUSY) E(EFAULT) E(ENOTSUP) E(EDEADLK) E(ECANCELED)
#undef E
    default: return "EUNKNOWN";
  }
}

inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

// Throws and returns an empty value: `return ThrowErrno(env, errno, "pipe2");`
inline Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall) {
  ErrnoError(env, err, syscall).ThrowAsJavaScriptException();
  return env.Undefined();
}

void InitPipe(Napi::Env env, Napi::Object exports);
void InitMq(Napi::Env env, Napi::Object exports);
void InitSem(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);

}  // namespace ipc
