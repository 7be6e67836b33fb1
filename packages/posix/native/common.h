// Shared helpers for the addon: every failure becomes a JS Error carrying
// `code` (errno name), `errno` (negative, as libuv reports it) and `syscall`;
// the TypeScript side turns it into a ChannelError.
#pragma once
#include <initializer_list>
#include <napi.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include "args.h"

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

// Argument readers shared by the calls that take buffers. Each throws a
// TypeError or RangeError and returns false when an argument is unusable.

// A typed array argument of element type `T` (napi type `kind`): its data and element count.
template <typename T>
inline bool TypedArg(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type kind, const char* expected, T** data, size_t* length) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind) {
    Napi::TypeError::New(info.Env(), expected).ThrowAsJavaScriptException();
    return false;
  }
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  *data = a.Data();
  *length = a.ElementLength();
  return true;
}

// The bytes of a Uint8Array (or Buffer) argument.
inline bool BytesArg(const Napi::CallbackInfo& info, size_t index, uint8_t** data, size_t* length) {
  return TypedArg<uint8_t>(info, index, napi_uint8_array, "expected a Uint8Array", data, length);
}

// An Int32Array of (start, length) pairs.
inline bool PairsArg(const Napi::CallbackInfo& info, size_t index, int32_t** data, size_t* length) {
  return TypedArg<int32_t>(info, index, napi_int32_array, "expected an Int32Array of (start, length) pairs", data, length);
}

// (offset, length) at info[index], info[index + 1], inside [0, limit).
inline bool RangeArg(const Napi::CallbackInfo& info, size_t index, size_t limit, size_t* offset, size_t* length) {
  int64_t off, len;
  double max = static_cast<double>(limit);
  if (!IntArg(info, index, "offset", 0, max, &off) || !IntArg(info, index + 1, "length", 0, max, &len)) return false;
  if (static_cast<uint64_t>(off) + static_cast<uint64_t>(len) > limit) {
    return ArgRangeError(info, "offset and length must lie inside the buffer");
  }
  *offset = static_cast<size_t>(off);
  *length = static_cast<size_t>(len);
  return true;
}

// (from, count) at info[index], info[index + 1]: a run of pairs inside `npairs` elements.
inline bool PairRunArg(const Napi::CallbackInfo& info, size_t index, size_t npairs, int64_t* from, int64_t* count) {
  double runs = static_cast<double>(npairs / 2);
  if (!IntArg(info, index, "from", 0, runs, from) || !IntArg(info, index + 1, "count", 0, runs, count)) return false;
  if (static_cast<uint64_t>(*from + *count) > npairs / 2) return ArgRangeError(info, "from and count must lie inside pairs");
  return true;
}

// One (start, length) pair, inside a buffer of `size` bytes.
inline bool SliceInside(Napi::Env env, int32_t start, int32_t len, size_t size) {
  if (start < 0 || len < 0 || static_cast<size_t>(start) + static_cast<size_t>(len) > size) {
    Napi::RangeError::New(env, "a slice lies outside the buffer").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// (fd, buffer, offset, length) at info[0..3]: a descriptor and the slice of a buffer to read into or write from.
struct FdSlice {
  int fd;
  uint8_t* data;
  size_t off = 0, len = 0;
};
inline bool FdSliceArgs(const Napi::CallbackInfo& info, FdSlice* a) {
  size_t size;
  return FdArg(info, 0, &a->fd) && BytesArg(info, 1, &a->data, &size) && RangeArg(info, 2, size, &a->off, &a->len);
}

// (fd, buffer, pairs, from, count) at info[0..4]: a descriptor and a run of (start, length) slices of a buffer.
struct FdPairRun {
  int fd;
  uint8_t* data;
  size_t size;
  int32_t* pairs;
  int64_t from = 0, count = 0;
};
inline bool FdPairRunArgs(const Napi::CallbackInfo& info, FdPairRun* a) {
  size_t npairs;
  return FdArg(info, 0, &a->fd) && BytesArg(info, 1, &a->data, &a->size) && PairsArg(info, 2, &a->pairs, &npairs) && PairRunArg(info, 3, npairs, &a->from, &a->count);
}

// Calls `call` again while it fails with EINTR; returns its last result.
template <typename F>
inline auto RetryEintr(F call) -> decltype(call()) {
  decltype(call()) r;
  do r = call();
  while (r < 0 && errno == EINTR);
  return r;
}

// One export per (name, function): the table every Init* below fills `exports` from.
struct ExportedFunction {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};
inline void ExportFunctions(Napi::Env env, Napi::Object exports, std::initializer_list<ExportedFunction> fns) {
  for (const ExportedFunction& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

void InitPipe(Napi::Env env, Napi::Object exports);
void InitMq(Napi::Env env, Napi::Object exports);
void InitSem(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);
void InitPeerCred(Napi::Env env, Napi::Object exports);
void InitProcess(Napi::Env env, Napi::Object exports);
void InitLock(Napi::Env env, Napi::Object exports);
void InitGuard(Napi::Env env, Napi::Object exports);
void InitDup(Napi::Env env, Napi::Object exports);
void InitChecksum(Napi::Env env, Napi::Object exports);

}  // namespace ipc
