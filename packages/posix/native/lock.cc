// Open-file-description locks, fcntl(2) F_OFD_SETLK / F_OFD_GETLK: the
// liveness of a named resource's owner. The kernel drops an OFD lock when
// the last descriptor of its open file description closes, so when the owner
// dies; and a lock is a property of the inode, seen the same from every pid
// namespace. No pid is involved (F_OFD_GETLK reports l_pid -1).
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include "common.h"

namespace ipc {
namespace {

// A descriptor argument: an integer from 0 to INT_MAX.
bool FdArg(const Napi::CallbackInfo& info, size_t index, int* fd) {
  Napi::Value v = info[index];
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0) || d > INT_MAX || d != static_cast<double>(static_cast<int>(d))) {
    Napi::TypeError::New(info.Env(), "fd must be an integer from 0 to 2^31 - 1").ThrowAsJavaScriptException();
    return false;
  }
  *fd = static_cast<int>(d);
  return true;
}

// The byte range at info[index], info[index + 1]: a start from 0 to 2^53 and
// a length from 1 to 2^53 (locks may lie past the end of the file).
bool RangeArgs(const Napi::CallbackInfo& info, size_t index, short type, struct flock* fl) {
  double start = info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : -1;
  double len = info[index + 1].IsNumber() ? info[index + 1].As<Napi::Number>().DoubleValue() : -1;
  const double max = 9007199254740991.0;
  if (!(start >= 0) || start > max || start != static_cast<double>(static_cast<int64_t>(start)) ||
      !(len >= 1) || len > max || len != static_cast<double>(static_cast<int64_t>(len))) {
    Napi::RangeError::New(info.Env(), "start must be an integer from 0 and length an integer from 1, both at most 2^53 - 1").ThrowAsJavaScriptException();
    return false;
  }
  std::memset(fl, 0, sizeof *fl);
  fl->l_type = type;
  fl->l_whence = SEEK_SET;
  fl->l_start = static_cast<off_t>(start);
  fl->l_len = static_cast<off_t>(len);
  return true;
}

// ofdLock(fd, type, start, length): type 0 unlock, 1 read (shared), 2 write (exclusive).
// Never waits: true when taken (or released), false when another open file
// description holds a conflicting lock.
Napi::Value OfdLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  Napi::Value t = info[1];
  int type = t.IsNumber() ? t.As<Napi::Number>().Int32Value() : -1;
  if (type < 0 || type > 2 || !t.IsNumber() || t.As<Napi::Number>().DoubleValue() != type) {
    Napi::RangeError::New(env, "lock type must be 0 (unlock), 1 (read) or 2 (write)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct flock fl;
  if (!RangeArgs(info, 2, type == 0 ? F_UNLCK : type == 1 ? F_RDLCK : F_WRLCK, &fl)) return env.Undefined();
  int rc;
  do rc = fcntl(fd, F_OFD_SETLK, &fl);
  while (rc != 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EAGAIN || errno == EACCES) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, errno, "fcntl");
}

// ofdHeld(fd, start, length): true when another open file description holds a
// lock on any byte of the range (a write lock would conflict). Takes nothing.
Napi::Value OfdHeld(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  struct flock fl;
  if (!RangeArgs(info, 1, F_WRLCK, &fl)) return env.Undefined();
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Boolean::New(env, fl.l_type != F_UNLCK);
}

}  // namespace

void InitLock(Napi::Env env, Napi::Object exports) {
  exports.Set("ofdLock", Napi::Function::New(env, OfdLock));
  exports.Set("ofdHeld", Napi::Function::New(env, OfdHeld));
}

}  // namespace ipc
