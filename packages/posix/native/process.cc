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
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "setParentDeathSignal(signal, expectedParentPid): both arguments are integers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double sig = info[0].As<Napi::Number>().DoubleValue();
  double ppid = info[1].As<Napi::Number>().DoubleValue();
  if (sig != static_cast<int>(sig) || sig < 1 || sig > SIGRTMAX) {
    Napi::RangeError::New(env, "setParentDeathSignal: signal must be an integer from 1 to SIGRTMAX").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (ppid != static_cast<int>(ppid) || ppid < 1) {
    Napi::RangeError::New(env, "setParentDeathSignal: expectedParentPid must be a positive integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(sig), 0, 0, 0) != 0) return ThrowErrno(env, errno, "prctl");
  return Napi::Boolean::New(env, getppid() == static_cast<pid_t>(ppid));
}

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
}

}  // namespace ipc
