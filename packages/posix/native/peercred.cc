// getsockopt(SO_PEERCRED), socket(7)/unix(7): who is at the other end of a
// connected Unix socket, as the kernel recorded it at connect(2). The
// receiver of a Unix socket uses it to admit only the users it trusts.
// And SO_SNDBUF: how many bytes a stream socket's sender may have in flight.
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

// socketSendBuffer(fd, bytes) -> the SO_SNDBUF the kernel granted. bytes > 0
// asks for that much (the kernel doubles it for bookkeeping and caps the
// request at /proc/sys/net/core/wmem_max); 0 only reads it.
static Napi::Value SocketSendBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArg(info, 0, &fd)) return env.Undefined();
  int32_t bytes;
  if (!Int32Arg(info, 1, "bytes", 0, 1 << 30, &bytes)) return env.Undefined();
  if (bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) return ThrowErrno(env, errno, "setsockopt");
  int got = 0;
  socklen_t len = sizeof got;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len) != 0) return ThrowErrno(env, errno, "getsockopt");
  return Napi::Number::New(env, got);
}

void InitPeerCred(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("socketSendBuffer", Napi::Function::New(env, SocketSendBuffer));
}

}  // namespace ipc
