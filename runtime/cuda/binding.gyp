{
  # kiln's CUDA driver addon. It includes no CUDA header and links no CUDA library:
  # libcuda.so.1 is dlopen()ed at run time, so this builds with any C++17 compiler.
  "targets": [
    {
      "target_name": "kiln_cuda",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "libraries": ["-ldl"]
    }
  ]
}
