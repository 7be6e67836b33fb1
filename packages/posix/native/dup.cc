// fcntl(2) F_DUPFD_CLOEXEC: a second descriptor for a socket that Node already
// holds, so that a libuv handle opened on it (one that reads into a buffer
// the caller chooses) can take the connection over while the first handle is
// closed.
#include <fcntl.h>
#include "common.h"

namespace ipc {

// dupCloexec(fd) -> a new descriptor for the same open file, close-on-exec.
static Napi::Value DupCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, copy);
}

void InitDup(Napi::Env env, Napi::Object exports) {
  exports.Set("dupCloexec", Napi::Function::New(env, DupCloexec));
}

}  // namespace ipc
