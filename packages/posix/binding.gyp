{
  "targets": [
    {
      "target_name": "ipc_posix",
      "sources": ["native/addon.cc", "native/pipe.cc", "native/mq.cc", "native/sem.cc", "native/futex.cc", "native/poll.cc", "native/process.cc", "native/lock.cc", "native/peercred.cc", "native/guard.cc", "native/dup.cc", "native/checksum.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "libraries": ["-lrt", "-pthread"]
    }
  ]
}
