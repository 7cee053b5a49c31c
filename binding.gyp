# Native kernels for layerlock (see src/kernels/native/). Built by `npm ci` through node-gyp with
# Node's own headers only (plain Node-API, no node-addon-api). If the build fails, the package still
# installs and src/kernels/index.ts falls back to the TypeScript reference kernels.
{
  "targets": [
    {
      # The AVX2/FMA micro-kernels get their own library so that only they are compiled with
      # -mavx2 -mfma; the rest of the addon is portable and checks CPUID before calling them.
      # (ia32 builds keep the flags too; any other architecture gets the portable kernels only.)
      "target_name": "layerlock_kernels_avx2",
      "type": "static_library",
      "sources": ["src/kernels/native/gemm_avx2.cc"],
      "cflags_cc": ["-O3", "-fPIC", "-std=gnu++17"],
      "conditions": [
        ["target_arch=='x64' or target_arch=='ia32'", {"cflags_cc": ["-mavx2", "-mfma"]}]
      ]
    },
    {
      # Same idea for the AVX-512F kernels, used on CPUs that have them (checked at run time).
      "target_name": "layerlock_kernels_avx512",
      "type": "static_library",
      "sources": ["src/kernels/native/gemm_avx512.cc"],
      "cflags_cc": ["-O3", "-fPIC", "-std=gnu++17"],
      "conditions": [
        ["target_arch=='x64'", {"cflags_cc": ["-mavx512f"]}]
      ]
    },
    {
      "target_name": "layerlock_kernels",
      "sources": [
        "src/kernels/native/addon.cc",
        "src/kernels/native/conv.cc",
        "src/kernels/native/doorbell.cc",
        "src/kernels/native/eltwise.cc",
        "src/kernels/native/gemm.cc",
        "src/kernels/native/gemm_generic.cc",
        "src/kernels/native/shm.cc",
        "src/kernels/native/threadpool.cc"
      ],
      "dependencies": ["layerlock_kernels_avx2", "layerlock_kernels_avx512"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O3", "-std=gnu++17"],
      "ldflags": ["-pthread"]
    }
  ]
}
