#include "common.h"

namespace ipc {

void InitSem(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace ipc
