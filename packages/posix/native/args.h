// Argument checks for every native entry point. `native()` is a public
// export, so a caller may pass anything: each reader below either yields a
// value in range or leaves a TypeError/RangeError pending and returns false,
// before the entry point makes any system call. Ranges are compared as
// doubles against bounds of at most 2^53, so no check can overflow.
#pragma once
#include <napi.h>
#include <cmath>
#include <cstdint>
#include <string>

namespace ipc {

// Largest integer a JavaScript number holds exactly.
constexpr double kMaxSafe = 9007199254740991.0;

inline bool ArgTypeError(const Napi::CallbackInfo& info, const std::string& message) {
  Napi::TypeError::New(info.Env(), message).ThrowAsJavaScriptException();
  return false;
}

inline bool ArgRangeError(const Napi::CallbackInfo& info, const std::string& message) {
  Napi::RangeError::New(info.Env(), message).ThrowAsJavaScriptException();
  return false;
}

// An integer number in [min, max] (both within ±2^53).
inline bool IntArg(const Napi::CallbackInfo& info, size_t index, const char* name, double min, double max, int64_t* out) {
  Napi::Value v = info[index];
  if (!v.IsNumber()) return ArgTypeError(info, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || std::trunc(d) != d) {
    return ArgRangeError(info, std::string(name) + " must be an integer from " + std::to_string(static_cast<int64_t>(min)) +
                                   " to " + std::to_string(static_cast<int64_t>(max)));
  }
  *out = static_cast<int64_t>(d);
  return true;
}

inline bool Int32Arg(const Napi::CallbackInfo& info, size_t index, const char* name, int32_t min, int32_t max, int32_t* out) {
  int64_t v;
  if (!IntArg(info, index, name, min, max, &v)) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

inline bool Uint32Arg(const Napi::CallbackInfo& info, size_t index, const char* name, uint32_t max, uint32_t* out) {
  int64_t v;
  if (!IntArg(info, index, name, 0, max, &v)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// A file descriptor: an integer from 0 to INT32_MAX.
inline bool FdArg(const Napi::CallbackInfo& info, size_t index, int* fd) {
  return Int32Arg(info, index, "fd", 0, INT32_MAX, fd);
}

// A permission mode: an integer from 0 to 0o7777.
inline bool ModeArg(const Napi::CallbackInfo& info, size_t index, unsigned* mode) {
  uint32_t m;
  if (!Uint32Arg(info, index, "mode", 07777, &m)) return false;
  *mode = m;
  return true;
}

// A timeout in milliseconds: a number; negative or above kMaxTimeoutMs
// (about 31 years, Infinity included) means no deadline; NaN is refused.
constexpr double kMaxTimeoutMs = 1e12;
inline bool TimeoutArg(const Napi::CallbackInfo& info, size_t index, int64_t* timeoutMs) {
  Napi::Value v = info[index];
  if (!v.IsNumber()) return ArgTypeError(info, "timeoutMs must be a number (negative: no deadline)");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) return ArgRangeError(info, "timeoutMs must not be NaN");
  *timeoutMs = d < 0 || d > kMaxTimeoutMs ? -1 : static_cast<int64_t>(std::ceil(d));
  return true;
}

// A string without NUL bytes (a path or a kernel object name).
inline bool StringArg(const Napi::CallbackInfo& info, size_t index, const char* name, std::string* out) {
  Napi::Value v = info[index];
  if (!v.IsString()) return ArgTypeError(info, std::string(name) + " must be a string");
  *out = v.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) return ArgRangeError(info, std::string(name) + " must not contain NUL bytes");
  return true;
}

inline bool BoolArg(const Napi::CallbackInfo& info, size_t index, const char* name, bool* out) {
  Napi::Value v = info[index];
  if (!v.IsBoolean()) return ArgTypeError(info, std::string(name) + " must be a boolean");
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

}  // namespace ipc
