{
  "targets": [
    {
      "target_name": "mmap_io",
      "sources": ["src/mmap-io.cc"],
      "include_dirs": ["<!(node -e \"require('nan')\")"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wno-cast-function-type"]
    }
  ]
}
