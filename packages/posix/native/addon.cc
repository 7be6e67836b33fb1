// Entry point: one Init per POSIX family.
#include "common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ipc::InitPipe(env, exports);
  ipc::InitMq(env, exports);
  ipc::InitSem(env, exports);
  ipc::InitFutex(env, exports);
  ipc::InitPoll(env, exports);
  ipc::InitPeerCred(env, exports);
  ipc::InitProcess(env, exports);
  ipc::InitLock(env, exports);
  ipc::InitGuard(env, exports);
  ipc::InitDup(env, exports);
  ipc::InitChecksum(env, exports);
  return exports;
}

NODE_API_MODULE(ipc_posix, Init)
