#include "common.h"

namespace ipc {

void InitPoll(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace ipc
