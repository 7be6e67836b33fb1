#include "common.h"

namespace ipc {

void InitMq(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace ipc
