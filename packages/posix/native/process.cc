// Process lifetime: tie a child's life to its parent's (prctl(2)
// PR_SET_PDEATHSIG). Linux sends the signal when the thread that forked us
// exits; Node forks from its main thread, which lives as long as the process.
#include "common.h"
#include <csignal>
#include <sys/prctl.h>
#include <unistd.h>

namespace ipc {

// setParentDeathSignal(signal, expectedParentPid) -> boolean
// Arms the signal, then compares getppid() with the parent we expect: if the
// parent died before prctl ran we were already reparented and no signal will
// ever come, so the caller learns it (false) and exits by itself.
static Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sig, ppid;
  if (!Int32Arg(info, 0, "signal", 1, SIGRTMAX, &sig) || !Int32Arg(info, 1, "expectedParentPid", 1, INT32_MAX, &ppid)) return env.Undefined();
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0) != 0) return ThrowErrno(env, errno, "prctl");
  return Napi::Boolean::New(env, getppid() == static_cast<pid_t>(ppid));
}

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
}

}  // namespace ipc
