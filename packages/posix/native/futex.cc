#include "common.h"

namespace ipc {

void InitFutex(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace ipc
