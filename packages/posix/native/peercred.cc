// getsockopt(SO_PEERCRED), socket(7)/unix(7): who is at the other end of a
// connected Unix socket, as the kernel recorded it at connect(2). The
// receiver of a Unix socket uses it to admit only the users it trusts.
#include <sys/socket.h>
#include <sys/types.h>
#include "common.h"

namespace ipc {

// peerCredentials(fd) -> { pid, uid, gid }
static Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return ThrowErrno(env, errno, "getsockopt");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

void InitPeerCred(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
}

}  // namespace ipc
