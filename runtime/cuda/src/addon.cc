// Runtime · kiln's CUDA driver addon (node-addon-api). In: calls from
// runtime/cuda/device.ts — device pointers, PTX text, launch shapes — as plain JS
// values (handles are BigInts). Out: the CUDA driver API on one device, one
// context and one stream: memory, copies, PTX modules, kernel launches, stream
// capture into CUDA graphs and their replay.
//
// libcuda.so.1 is dlopen()ed on first use, and the few driver types and entry
// points used are declared here, so the addon builds with no CUDA toolkit and
// loads on machines with no GPU: available() then says why CUDA cannot be used.
// Every driver call is checked; a failure throws a JS Error naming the call and
// the driver's error name and string. With setSyncEveryCall(true) (device.ts sets
// it from KILN_CUDA_SYNC=1) every asynchronous call is followed by a stream
// synchronisation, so a faulting kernel is reported by the launch that ran it.
// NVRTC (libnvrtc) is dlopen()ed the same way, on request, for machines that
// have no nvcc to produce PTX with, and so is cuBLASLt (libcublasLt), which runs
// the plain GEMMs of programs compiled with library GEMMs (runtime/cuda/gemm.ts).

#include <napi.h>
#include <dlfcn.h>

// glibc 2.34 moved dlopen/dlsym/dlclose into libc under a new symbol version; bind the
// original ones (still exported) so an addon built here also loads on older GPU hosts.
#if defined(__GLIBC__) && defined(__x86_64__)
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlclose,dlclose@GLIBC_2.2.5");
#endif

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// ---- the slice of the driver API kiln uses (cuda.h, declared by hand) -----------

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;
using CUgraph = struct CUgraph_st*;
using CUgraphExec = struct CUgraphExec_st*;
using CUjit_option = int;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X = 5;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr CUjit_option CU_JIT_INFO_LOG_BUFFER = 3;
constexpr CUjit_option CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr unsigned int CU_STREAM_DEFAULT = 0;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

struct Driver {
  void* library = nullptr;
  std::string loadError;
  CUresult (*cuInit)(unsigned int);
  CUresult (*cuDriverGetVersion)(int*);
  CUresult (*cuGetErrorName)(CUresult, const char**);
  CUresult (*cuGetErrorString)(CUresult, const char**);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetName)(char*, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice);
  CUresult (*cuDeviceTotalMem_v2)(size_t*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuMemAlloc_v2)(CUdeviceptr*, size_t);
  CUresult (*cuMemFree_v2)(CUdeviceptr);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuMemcpyHtoDAsync_v2)(CUdeviceptr, const void*, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync_v2)(void*, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemcpyDtoDAsync_v2)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuModuleLoadDataEx)(CUmodule*, const void*, unsigned int, CUjit_option*, void**);
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
                             unsigned int, CUstream, void**, void**);
  CUresult (*cuStreamCreate)(CUstream*, unsigned int);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamBeginCapture_v2)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph*);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec*, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
};

Driver driver;
CUcontext context = nullptr;
CUstream stream = nullptr;
bool syncEveryCall = false;

template <typename F>
bool bind(F*& slot, const char* name) {
  slot = reinterpret_cast<F*>(dlsym(driver.library, name));
  if (!slot) driver.loadError = std::string("libcuda.so.1 lacks ") + name + " (driver too old for kiln)";
  return slot != nullptr;
}

/** Loads libcuda.so.1 once; on failure driver.loadError says why. */
bool loadDriver() {
  if (driver.library) return true;
  if (!driver.loadError.empty()) return false;
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    driver.loadError = "no CUDA driver (libcuda.so.1 not found)";
    return false;
  }
  driver.library = library;
  bool ok = bind(driver.cuInit, "cuInit") && bind(driver.cuDriverGetVersion, "cuDriverGetVersion") &&
            bind(driver.cuGetErrorName, "cuGetErrorName") && bind(driver.cuGetErrorString, "cuGetErrorString") &&
            bind(driver.cuDeviceGetCount, "cuDeviceGetCount") && bind(driver.cuDeviceGet, "cuDeviceGet") &&
            bind(driver.cuDeviceGetName, "cuDeviceGetName") && bind(driver.cuDeviceGetAttribute, "cuDeviceGetAttribute") &&
            bind(driver.cuDeviceTotalMem_v2, "cuDeviceTotalMem_v2") &&
            bind(driver.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") && bind(driver.cuCtxSetCurrent, "cuCtxSetCurrent") &&
            bind(driver.cuMemAlloc_v2, "cuMemAlloc_v2") && bind(driver.cuMemFree_v2, "cuMemFree_v2") &&
            bind(driver.cuMemsetD8Async, "cuMemsetD8Async") && bind(driver.cuMemcpyHtoDAsync_v2, "cuMemcpyHtoDAsync_v2") &&
            bind(driver.cuMemcpyDtoHAsync_v2, "cuMemcpyDtoHAsync_v2") && bind(driver.cuMemcpyDtoDAsync_v2, "cuMemcpyDtoDAsync_v2") &&
            bind(driver.cuModuleLoadDataEx, "cuModuleLoadDataEx") && bind(driver.cuModuleGetFunction, "cuModuleGetFunction") &&
            bind(driver.cuModuleUnload, "cuModuleUnload") && bind(driver.cuLaunchKernel, "cuLaunchKernel") &&
            bind(driver.cuStreamCreate, "cuStreamCreate") && bind(driver.cuStreamSynchronize, "cuStreamSynchronize") &&
            bind(driver.cuStreamBeginCapture_v2, "cuStreamBeginCapture_v2") && bind(driver.cuStreamEndCapture, "cuStreamEndCapture") &&
            bind(driver.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags") && bind(driver.cuGraphLaunch, "cuGraphLaunch") &&
            bind(driver.cuGraphExecDestroy, "cuGraphExecDestroy") && bind(driver.cuGraphDestroy, "cuGraphDestroy");
  if (!ok) {
    dlclose(library);
    driver.library = nullptr;
  }
  return ok;
}

std::string describe(CUresult result) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (driver.cuGetErrorName) driver.cuGetErrorName(result, &name);
  if (driver.cuGetErrorString) driver.cuGetErrorString(result, &text);
  return std::string(name ? name : "CUDA_ERROR_UNKNOWN") + " (" + std::to_string(result) + "): " + (text ? text : "no description");
}

/** Throws a JS Error naming the call when `result` is not success; returns whether it was. */
bool check(Napi::Env env, CUresult result, const char* call) {
  if (result == CUDA_SUCCESS) return true;
  Napi::Error::New(env, std::string("kiln cuda: ") + call + " failed: " + describe(result)).ThrowAsJavaScriptException();
  return false;
}

/** After an asynchronous call: with syncEveryCall, wait for the stream so the call that failed is the one reported. */
bool settle(Napi::Env env, const char* call) {
  if (!syncEveryCall) return true;
  CUresult result = driver.cuStreamSynchronize(stream);
  if (result == CUDA_SUCCESS) return true;
  Napi::Error::New(env, std::string("kiln cuda: ") + call + " (synchronised after the call) failed: " + describe(result)).ThrowAsJavaScriptException();
  return false;
}

bool ready(Napi::Env env) {
  if (context) return true;
  Napi::Error::New(env, "kiln cuda: init() has not been called (or failed)").ThrowAsJavaScriptException();
  return false;
}

bool fail(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, "kiln cuda: " + message).ThrowAsJavaScriptException();
  return false;
}

bool toPointer(Napi::Env env, const Napi::Value& value, const char* what, uint64_t& out) {
  if (!value.IsBigInt()) return fail(env, std::string(what) + " must be a bigint handle");
  bool lossless = true;
  out = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) return fail(env, std::string(what) + " is not a valid handle");
  return true;
}

bool toCount(Napi::Env env, const Napi::Value& value, const char* what, uint64_t& out) {
  if (!value.IsNumber()) return fail(env, std::string(what) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number != static_cast<double>(static_cast<uint64_t>(number))) return fail(env, std::string(what) + " must be a non-negative integer");
  out = static_cast<uint64_t>(number);
  return true;
}

Napi::BigInt handle(Napi::Env env, const void* pointer) {
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(pointer)));
}

// ---- NVRTC (libnvrtc, dlopen()ed like the driver) -------------------------------------
// The runtime compiler turns kiln's CUDA C++ into PTX where nvcc is absent (a GPU
// machine with only the driver and PyTorch, whose wheels carry libnvrtc). Its few
// entry points are declared here as well; nvrtcResult 0 is success.

using nvrtcProgram = struct _nvrtcProgram*;

struct Nvrtc {
  void* library = nullptr;
  std::string path;
  int (*nvrtcVersion)(int*, int*);
  const char* (*nvrtcGetErrorString)(int);
  int (*nvrtcCreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
  int (*nvrtcCompileProgram)(nvrtcProgram, int, const char* const*);
  int (*nvrtcGetPTXSize)(nvrtcProgram, size_t*);
  int (*nvrtcGetPTX)(nvrtcProgram, char*);
  int (*nvrtcGetProgramLogSize)(nvrtcProgram, size_t*);
  int (*nvrtcGetProgramLog)(nvrtcProgram, char*);
  int (*nvrtcDestroyProgram)(nvrtcProgram*);
};

Nvrtc nvrtc;

template <typename F>
bool bindSymbol(void* library, F*& slot, const char* name, std::string& error) {
  slot = reinterpret_cast<F*>(dlsym(library, name));
  if (!slot) error = std::string("lacks ") + name;
  return slot != nullptr;
}

/**
 * Binds `table` (a struct of entry points with `library` and `path` members) from the first of `paths` dlopen() can
 * load and `bindAll` can bind. Returns false with `reason` listing why each path failed, or after throwing a
 * TypeError for a bad argument (then `reason` is empty).
 */
template <typename Table, typename BindAll>
bool openFirst(Napi::Env env, const Napi::Value& argument, const char* what, Table& table, BindAll bindAll, std::string& reason) {
  if (!argument.IsArray()) {
    fail(env, std::string(what) + "(paths) takes an array of library paths");
    return false;
  }
  Napi::Array paths = argument.As<Napi::Array>();
  std::string reasons;
  for (uint32_t i = 0; i < paths.Length(); i++) {
    std::string path = paths.Get(i).ToString().Utf8Value();
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      const char* why = dlerror();
      reasons += "\n  " + path + ": " + (why ? why : "not loadable");
      continue;
    }
    Table loaded;
    std::string error;
    if (!bindAll(library, loaded, error)) {
      dlclose(library);
      reasons += "\n  " + path + ": " + error;
      continue;
    }
    loaded.library = library;
    loaded.path = path;
    table = loaded;
    return true;
  }
  reason = reasons.empty() ? std::string(" no candidate paths") : reasons;
  return false;
}

/** nvrtcLoad(paths): the first of `paths` dlopen() can load and that has the entry points; { ok, path, version } or { ok: false, reason }. */
Napi::Value NvrtcLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  std::string reason;
  auto bindAll = [](void* library, Nvrtc& loaded, std::string& error) {
    return bindSymbol(library, loaded.nvrtcVersion, "nvrtcVersion", error) && bindSymbol(library, loaded.nvrtcGetErrorString, "nvrtcGetErrorString", error) &&
           bindSymbol(library, loaded.nvrtcCreateProgram, "nvrtcCreateProgram", error) && bindSymbol(library, loaded.nvrtcCompileProgram, "nvrtcCompileProgram", error) &&
           bindSymbol(library, loaded.nvrtcGetPTXSize, "nvrtcGetPTXSize", error) && bindSymbol(library, loaded.nvrtcGetPTX, "nvrtcGetPTX", error) &&
           bindSymbol(library, loaded.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", error) && bindSymbol(library, loaded.nvrtcGetProgramLog, "nvrtcGetProgramLog", error) &&
           bindSymbol(library, loaded.nvrtcDestroyProgram, "nvrtcDestroyProgram", error);
  };
  if (!nvrtc.library && !openFirst(env, info[0], "nvrtcLoad", nvrtc, bindAll, reason)) {
    if (reason.empty()) return env.Undefined();
    result.Set("ok", false);
    result.Set("reason", "no NVRTC library could be loaded:" + reason);
    return result;
  }
  int major = 0;
  int minor = 0;
  nvrtc.nvrtcVersion(&major, &minor);
  result.Set("ok", true);
  result.Set("path", nvrtc.path);
  result.Set("version", std::to_string(major) + "." + std::to_string(minor));
  return result;
}

/** nvrtcCompile(source, name, options) → { ptx, log }; a failed compile throws with NVRTC's log. */
Napi::Value NvrtcCompile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!nvrtc.library) {
    Napi::Error::New(env, "kiln cuda: nvrtcLoad() has not found NVRTC").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsArray()) {
    fail(env, "nvrtcCompile(source, name, options) takes two strings and an array of strings");
    return env.Undefined();
  }
  std::string source = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  Napi::Array list = info[2].As<Napi::Array>();
  std::vector<std::string> options;
  for (uint32_t i = 0; i < list.Length(); i++) options.push_back(list.Get(i).ToString().Utf8Value());
  std::vector<const char*> pointers;
  for (const auto& option : options) pointers.push_back(option.c_str());
  auto error = [&](const char* call, int code, const std::string& log) {
    std::string message = std::string("kiln cuda: ") + call + " failed: " + nvrtc.nvrtcGetErrorString(code) + " (" + std::to_string(code) + ")";
    if (!log.empty()) message += "\n" + log;
    Napi::Error::New(env, message).ThrowAsJavaScriptException();
    return env.Undefined();
  };
  nvrtcProgram program = nullptr;
  int code = nvrtc.nvrtcCreateProgram(&program, source.c_str(), name.c_str(), 0, nullptr, nullptr);
  if (code != 0) return error("nvrtcCreateProgram", code, "");
  code = nvrtc.nvrtcCompileProgram(program, static_cast<int>(pointers.size()), pointers.data());
  size_t logSize = 0;
  std::string log;
  if (nvrtc.nvrtcGetProgramLogSize(program, &logSize) == 0 && logSize > 1) {
    log.resize(logSize);
    nvrtc.nvrtcGetProgramLog(program, log.data());
    log.resize(std::strlen(log.c_str()));
  }
  if (code != 0) {
    nvrtc.nvrtcDestroyProgram(&program);
    return error("nvrtcCompileProgram", code, log);
  }
  size_t ptxSize = 0;
  std::string ptx;
  code = nvrtc.nvrtcGetPTXSize(program, &ptxSize);
  if (code == 0) {
    ptx.resize(ptxSize);
    code = nvrtc.nvrtcGetPTX(program, ptx.data());
    ptx.resize(std::strlen(ptx.c_str()));
  }
  nvrtc.nvrtcDestroyProgram(&program);
  if (code != 0) return error("nvrtcGetPTX", code, log);
  Napi::Object result = Napi::Object::New(env);
  result.Set("ptx", ptx);
  result.Set("log", log);
  return result;
}

// ---- cuBLASLt (libcublasLt, dlopen()ed like the driver) ---------------------------
// Plain GEMMs of programs compiled with gemm 'library': runtime/cuda/gemm.ts maps
// each to one column-major matmul, planned once (descriptors, layouts and the
// heuristic's best algorithm) and run on kiln's stream with a shared workspace,
// so it is captured into the step's CUDA graph like a kernel launch. Only the
// entry points and enum values kiln uses are declared (cublasLt.h, cublas_api.h,
// library_types.h); cublasStatus_t 0 is success.

using cublasLtHandle = struct cublasLtContext*;
using cublasLtMatmulDesc = struct cublasLtMatmulDescOpaque*;
using cublasLtMatrixLayout = struct cublasLtMatrixLayoutOpaque*;
using cublasLtMatmulPreference = struct cublasLtMatmulPreferenceOpaque*;
struct cublasLtMatmulAlgo {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult {
  cublasLtMatmulAlgo algo;
  size_t workspaceSize;
  int state;
  float wavesCount;
  int reserved[4];
};

constexpr int CUDA_R_32F = 0;
constexpr int CUDA_R_16BF = 14;
constexpr int CUBLAS_COMPUTE_32F = 68;
constexpr int CUBLAS_OP_N = 0;
constexpr int CUBLAS_OP_T = 1;
constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3;
constexpr int CUBLASLT_MATMUL_DESC_TRANSB = 4;
constexpr int CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5;
constexpr int CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6;
constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5;
constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6;
constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7;
constexpr int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;
/** NVIDIA's recommendation for Hopper; one workspace serves every plan (they run one at a time on one stream). */
constexpr size_t CUBLASLT_WORKSPACE_BYTES = size_t(32) << 20;

struct CublasLt {
  void* library = nullptr;
  std::string path;
  size_t (*cublasLtGetVersion)();
  const char* (*cublasLtGetStatusName)(int);
  int (*cublasLtCreate)(cublasLtHandle*);
  int (*cublasLtMatmulDescCreate)(cublasLtMatmulDesc*, int, int);
  int (*cublasLtMatmulDescSetAttribute)(cublasLtMatmulDesc, int, const void*, size_t);
  int (*cublasLtMatmulDescDestroy)(cublasLtMatmulDesc);
  int (*cublasLtMatrixLayoutCreate)(cublasLtMatrixLayout*, int, uint64_t, uint64_t, int64_t);
  int (*cublasLtMatrixLayoutSetAttribute)(cublasLtMatrixLayout, int, const void*, size_t);
  int (*cublasLtMatrixLayoutDestroy)(cublasLtMatrixLayout);
  int (*cublasLtMatmulPreferenceCreate)(cublasLtMatmulPreference*);
  int (*cublasLtMatmulPreferenceSetAttribute)(cublasLtMatmulPreference, int, const void*, size_t);
  int (*cublasLtMatmulPreferenceDestroy)(cublasLtMatmulPreference);
  int (*cublasLtMatmulAlgoGetHeuristic)(cublasLtHandle, cublasLtMatmulDesc, cublasLtMatrixLayout, cublasLtMatrixLayout, cublasLtMatrixLayout,
                                        cublasLtMatrixLayout, cublasLtMatmulPreference, int, cublasLtMatmulHeuristicResult*, int*);
  int (*cublasLtMatmul)(cublasLtHandle, cublasLtMatmulDesc, const void*, const void*, cublasLtMatrixLayout, const void*, cublasLtMatrixLayout,
                        const void*, const void*, cublasLtMatrixLayout, void*, cublasLtMatrixLayout, const cublasLtMatmulAlgo*, void*, size_t, CUstream);
};

CublasLt cublasLt;
cublasLtHandle ltHandle = nullptr;
CUdeviceptr ltWorkspace = 0;

/** One planned GEMM: everything cublasLtMatmul needs but the pointers. */
struct GemmPlan {
  cublasLtMatmulDesc desc = nullptr;
  cublasLtMatrixLayout a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo algo{};
  size_t workspace = 0;
};

void destroyPlan(GemmPlan* plan) {
  if (plan->desc) cublasLt.cublasLtMatmulDescDestroy(plan->desc);
  for (cublasLtMatrixLayout layout : {plan->a, plan->b, plan->d}) if (layout) cublasLt.cublasLtMatrixLayoutDestroy(layout);
  delete plan;
}

std::string describeBlas(int status) {
  const char* name = cublasLt.cublasLtGetStatusName ? cublasLt.cublasLtGetStatusName(status) : nullptr;
  return std::string(name ? name : "CUBLAS_STATUS") + " (" + std::to_string(status) + ")";
}

bool checkBlas(Napi::Env env, int status, const std::string& call) {
  if (status == 0) return true;
  Napi::Error::New(env, "kiln cuda: " + call + " failed: " + describeBlas(status)).ThrowAsJavaScriptException();
  return false;
}

/** cublasLtLoad(paths): the first of `paths` dlopen() can load and that has the entry points; { ok, path, version } or { ok: false, reason }. */
Napi::Value CublasLtLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  std::string reason;
  auto bindAll = [](void* library, CublasLt& loaded, std::string& error) {
    // Status names arrived in cuBLAS 11.4; without them errors print the number alone.
    loaded.cublasLtGetStatusName = reinterpret_cast<const char* (*)(int)>(dlsym(library, "cublasLtGetStatusName"));
    return bindSymbol(library, loaded.cublasLtGetVersion, "cublasLtGetVersion", error) && bindSymbol(library, loaded.cublasLtCreate, "cublasLtCreate", error) &&
           bindSymbol(library, loaded.cublasLtMatmulDescCreate, "cublasLtMatmulDescCreate", error) &&
           bindSymbol(library, loaded.cublasLtMatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute", error) &&
           bindSymbol(library, loaded.cublasLtMatmulDescDestroy, "cublasLtMatmulDescDestroy", error) &&
           bindSymbol(library, loaded.cublasLtMatrixLayoutCreate, "cublasLtMatrixLayoutCreate", error) &&
           bindSymbol(library, loaded.cublasLtMatrixLayoutSetAttribute, "cublasLtMatrixLayoutSetAttribute", error) &&
           bindSymbol(library, loaded.cublasLtMatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy", error) &&
           bindSymbol(library, loaded.cublasLtMatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate", error) &&
           bindSymbol(library, loaded.cublasLtMatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute", error) &&
           bindSymbol(library, loaded.cublasLtMatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy", error) &&
           bindSymbol(library, loaded.cublasLtMatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic", error) &&
           bindSymbol(library, loaded.cublasLtMatmul, "cublasLtMatmul", error);
  };
  if (!cublasLt.library && !openFirst(env, info[0], "cublasLtLoad", cublasLt, bindAll, reason)) {
    if (reason.empty()) return env.Undefined();
    result.Set("ok", false);
    result.Set("reason", "no cuBLASLt library could be loaded:" + reason);
    return result;
  }
  size_t version = cublasLt.cublasLtGetVersion();
  result.Set("ok", true);
  result.Set("path", cublasLt.path);
  result.Set("version", std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." + std::to_string(version % 100));
  return result;
}

bool intField(Napi::Env env, const Napi::Object& object, const char* key, int64_t& out) {
  Napi::Value value = object.Get(key);
  if (!value.IsNumber()) return fail(env, std::string("gemmPlan: ") + key + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (number != static_cast<double>(static_cast<int64_t>(number)) || number < 0) return fail(env, std::string("gemmPlan: ") + key + " must be a non-negative integer");
  out = static_cast<int64_t>(number);
  return true;
}

/** A column-major layout { rows, cols, ld, batchStride } of `type`, batched `batch` times. */
bool makeLayout(Napi::Env env, const Napi::Value& value, const char* which, int type, int64_t batch, cublasLtMatrixLayout& layout) {
  if (!value.IsObject()) return fail(env, std::string("gemmPlan: ") + which + " must be a layout object");
  Napi::Object object = value.As<Napi::Object>();
  int64_t rows = 0, cols = 0, ld = 0, batchStride = 0;
  if (!intField(env, object, "rows", rows) || !intField(env, object, "cols", cols) || !intField(env, object, "ld", ld) || !intField(env, object, "batchStride", batchStride)) return false;
  if (!checkBlas(env, cublasLt.cublasLtMatrixLayoutCreate(&layout, type, rows, cols, ld), std::string("cublasLtMatrixLayoutCreate(") + which + ")")) return false;
  int32_t count = static_cast<int32_t>(batch);
  return checkBlas(env, cublasLt.cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count), "cublasLtMatrixLayoutSetAttribute(batch count)") &&
         checkBlas(env, cublasLt.cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batchStride, sizeof batchStride), "cublasLtMatrixLayoutSetAttribute(batch stride)");
}

/** gemmPlan(matmul: CublasLtMatmul, runtime/cuda/gemm.ts) → plan handle: descriptors and the heuristic's first algorithm. */
Napi::Value GemmPlanCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ready(env)) return env.Undefined();
  if (!cublasLt.library) {
    Napi::Error::New(env, "kiln cuda: cublasLtLoad() has not found cuBLASLt").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsObject()) {
    fail(env, "gemmPlan(matmul) takes a matmul object");
    return env.Undefined();
  }
  Napi::Object spec = info[0].As<Napi::Object>();
  int64_t m = 0, n = 0, k = 0, batch = 0, alignA = 0, alignB = 0, alignD = 0;
  if (!intField(env, spec, "m", m) || !intField(env, spec, "n", n) || !intField(env, spec, "k", k) || !intField(env, spec, "batch", batch) ||
      !intField(env, spec, "alignA", alignA) || !intField(env, spec, "alignB", alignB) || !intField(env, spec, "alignD", alignD)) {
    return env.Undefined();
  }
  std::string out = spec.Get("out").ToString().Utf8Value();
  if (spec.Get("operands").ToString().Utf8Value() != "bf16" || (out != "bf16" && out != "f32")) {
    fail(env, "gemmPlan: operands must be 'bf16' and out 'bf16' or 'f32'");
    return env.Undefined();
  }
  if (!ltHandle && !checkBlas(env, cublasLt.cublasLtCreate(&ltHandle), "cublasLtCreate")) return env.Undefined();
  if (!ltWorkspace && !check(env, driver.cuMemAlloc_v2(&ltWorkspace, CUBLASLT_WORKSPACE_BYTES), "cuMemAlloc (cuBLASLt workspace)")) return env.Undefined();
  GemmPlan* plan = new GemmPlan();
  auto abandon = [&]() {
    destroyPlan(plan);
    return env.Undefined();
  };
  if (!checkBlas(env, cublasLt.cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate")) return abandon();
  int32_t transA = spec.Get("transA").ToBoolean().Value() ? CUBLAS_OP_T : CUBLAS_OP_N;
  int32_t transB = spec.Get("transB").ToBoolean().Value() ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (!checkBlas(env, cublasLt.cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transA, sizeof transA), "cublasLtMatmulDescSetAttribute(transa)") ||
      !checkBlas(env, cublasLt.cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &transB, sizeof transB), "cublasLtMatmulDescSetAttribute(transb)") ||
      !makeLayout(env, spec.Get("a"), "a", CUDA_R_16BF, batch, plan->a) || !makeLayout(env, spec.Get("b"), "b", CUDA_R_16BF, batch, plan->b) ||
      !makeLayout(env, spec.Get("d"), "d", out == "bf16" ? CUDA_R_16BF : CUDA_R_32F, batch, plan->d)) {
    return abandon();
  }
  cublasLtMatmulPreference preference = nullptr;
  if (!checkBlas(env, cublasLt.cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate")) return abandon();
  uint64_t workspace = CUBLASLT_WORKSPACE_BYTES;
  uint32_t alignments[] = {static_cast<uint32_t>(alignA), static_cast<uint32_t>(alignB), static_cast<uint32_t>(alignD), static_cast<uint32_t>(alignD)};
  const int alignmentAttributes[] = {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  bool ok = checkBlas(env, cublasLt.cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace), "cublasLtMatmulPreferenceSetAttribute(workspace)");
  for (int i = 0; ok && i < 4; i++) {
    ok = checkBlas(env, cublasLt.cublasLtMatmulPreferenceSetAttribute(preference, alignmentAttributes[i], &alignments[i], sizeof alignments[i]), "cublasLtMatmulPreferenceSetAttribute(alignment)");
  }
  cublasLtMatmulHeuristicResult best{};
  int found = 0;
  // D is also C (beta = 0), so C's layout is D's.
  if (ok) ok = checkBlas(env, cublasLt.cublasLtMatmulAlgoGetHeuristic(ltHandle, plan->desc, plan->a, plan->b, plan->d, plan->d, preference, 1, &best, &found), "cublasLtMatmulAlgoGetHeuristic");
  cublasLt.cublasLtMatmulPreferenceDestroy(preference);
  if (!ok) return abandon();
  if (found == 0 || best.state != 0) {
    Napi::Error::New(env, "kiln cuda: cuBLASLt has no algorithm for this GEMM (m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ", batch " +
                              std::to_string(batch) + ", " + out + " out)")
        .ThrowAsJavaScriptException();
    return abandon();
  }
  plan->algo = best.algo;
  plan->workspace = best.workspaceSize;
  return handle(env, plan);
}

/** gemmRun(plan, d, a, b): D = op(A) · op(B) on the stream (captured like a launch); pointers already offset to the first matrix. */
Napi::Value GemmRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t plan = 0, d = 0, a = 0, b = 0;
  if (!ready(env) || !toPointer(env, info[0], "plan", plan) || !toPointer(env, info[1], "d", d) || !toPointer(env, info[2], "a", a) || !toPointer(env, info[3], "b", b)) {
    return env.Undefined();
  }
  const GemmPlan* p = reinterpret_cast<const GemmPlan*>(plan);
  const float alpha = 1.0f;
  const float beta = 0.0f;
  void* dPointer = reinterpret_cast<void*>(static_cast<uintptr_t>(d));
  int status = cublasLt.cublasLtMatmul(ltHandle, p->desc, &alpha, reinterpret_cast<const void*>(static_cast<uintptr_t>(a)), p->a,
                                       reinterpret_cast<const void*>(static_cast<uintptr_t>(b)), p->b, &beta, dPointer, p->d, dPointer, p->d, &p->algo,
                                       reinterpret_cast<void*>(static_cast<uintptr_t>(ltWorkspace)), p->workspace, stream);
  if (checkBlas(env, status, "cublasLtMatmul")) settle(env, "cublasLtMatmul");
  return env.Undefined();
}

Napi::Value GemmDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t plan = 0;
  if (!toPointer(env, info[0], "plan", plan)) return env.Undefined();
  destroyPlan(reinterpret_cast<GemmPlan*>(plan));
  return env.Undefined();
}

// ---- exported functions ----------------------------------------------------------

/** { ok: true, driverVersion, devices } or { ok: false, reason }: never throws. */
Napi::Value Available(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  auto no = [&](const std::string& reason) {
    result.Set("ok", false);
    result.Set("reason", reason);
    return result;
  };
  if (!loadDriver()) return no(driver.loadError);
  CUresult status = driver.cuInit(0);
  if (status != CUDA_SUCCESS) return no("cuInit failed: " + describe(status));
  int version = 0;
  int count = 0;
  driver.cuDriverGetVersion(&version);
  status = driver.cuDeviceGetCount(&count);
  if (status != CUDA_SUCCESS) return no("cuDeviceGetCount failed: " + describe(status));
  if (count == 0) return no("the CUDA driver reports no device");
  result.Set("ok", true);
  result.Set("driverVersion", version);
  result.Set("devices", count);
  return result;
}

/** init(ordinal = 0): primary context and one stream; returns the device's name and limits. */
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!loadDriver()) {
    Napi::Error::New(env, "kiln cuda: " + driver.loadError).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint64_t ordinal = 0;
  if (info.Length() > 0 && !info[0].IsUndefined() && !toCount(env, info[0], "ordinal", ordinal)) return env.Undefined();
  if (!check(env, driver.cuInit(0), "cuInit")) return env.Undefined();
  CUdevice device = 0;
  if (!check(env, driver.cuDeviceGet(&device, static_cast<int>(ordinal)), "cuDeviceGet")) return env.Undefined();
  if (!context) {
    if (!check(env, driver.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain")) return env.Undefined();
  }
  if (!check(env, driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")) return env.Undefined();
  if (!stream && !check(env, driver.cuStreamCreate(&stream, CU_STREAM_DEFAULT), "cuStreamCreate")) return env.Undefined();
  char name[256] = {0};
  if (!check(env, driver.cuDeviceGetName(name, sizeof name, device), "cuDeviceGetName")) return env.Undefined();
  size_t memory = 0;
  if (!check(env, driver.cuDeviceTotalMem_v2(&memory, device), "cuDeviceTotalMem")) return env.Undefined();
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", std::string(name));
  result.Set("totalMemory", static_cast<double>(memory));
  const std::pair<const char*, int> attributes[] = {
    {"major", CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR},
    {"minor", CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR},
    {"multiprocessors", CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT},
    {"maxThreadsPerBlock", CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK},
    {"maxSharedMemoryPerBlock", CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK},
    {"maxGridDimX", CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X},
  };
  for (const auto& [key, attribute] : attributes) {
    int value = 0;
    if (!check(env, driver.cuDeviceGetAttribute(&value, attribute, device), "cuDeviceGetAttribute")) return env.Undefined();
    result.Set(key, value);
  }
  return result;
}

Napi::Value SetSyncEveryCall(const Napi::CallbackInfo& info) {
  syncEveryCall = info.Length() > 0 && info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

/** malloc(bytes) → device pointer (zero-filled). */
Napi::Value Malloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t bytes = 0;
  if (!ready(env) || !toCount(env, info[0], "bytes", bytes)) return env.Undefined();
  CUdeviceptr pointer = 0;
  if (!check(env, driver.cuMemAlloc_v2(&pointer, bytes == 0 ? 4 : bytes), "cuMemAlloc")) return env.Undefined();
  if (!check(env, driver.cuMemsetD8Async(pointer, 0, bytes == 0 ? 4 : bytes, stream), "cuMemsetD8Async") || !settle(env, "cuMemsetD8Async")) {
    driver.cuMemFree_v2(pointer);
    return env.Undefined();
  }
  return Napi::BigInt::New(env, static_cast<uint64_t>(pointer));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t pointer = 0;
  if (!ready(env) || !toPointer(env, info[0], "pointer", pointer)) return env.Undefined();
  // cuMemFree synchronises with outstanding work on the pointer itself.
  check(env, driver.cuMemFree_v2(pointer), "cuMemFree");
  return env.Undefined();
}

/** copyHtoD(pointer, bytes: TypedArray): the copy has finished when this returns. */
Napi::Value CopyHtoD(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t pointer = 0;
  if (!ready(env) || !toPointer(env, info[0], "pointer", pointer)) return env.Undefined();
  if (!info[1].IsTypedArray()) {
    fail(env, "copyHtoD needs a TypedArray");
    return env.Undefined();
  }
  Napi::TypedArray array = info[1].As<Napi::TypedArray>();
  const uint8_t* data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  if (!check(env, driver.cuMemcpyHtoDAsync_v2(pointer, data, array.ByteLength(), stream), "cuMemcpyHtoDAsync")) return env.Undefined();
  // The host bytes belong to JS: wait until the driver has read them.
  check(env, driver.cuStreamSynchronize(stream), "cuStreamSynchronize (after cuMemcpyHtoDAsync)");
  return env.Undefined();
}

/** copyDtoH(pointer, target: TypedArray): fills `target` after all work queued before it. */
Napi::Value CopyDtoH(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t pointer = 0;
  if (!ready(env) || !toPointer(env, info[0], "pointer", pointer)) return env.Undefined();
  if (!info[1].IsTypedArray()) {
    fail(env, "copyDtoH needs a TypedArray");
    return env.Undefined();
  }
  Napi::TypedArray array = info[1].As<Napi::TypedArray>();
  uint8_t* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  if (!check(env, driver.cuMemcpyDtoHAsync_v2(data, pointer, array.ByteLength(), stream), "cuMemcpyDtoHAsync")) return env.Undefined();
  check(env, driver.cuStreamSynchronize(stream), "cuStreamSynchronize (after cuMemcpyDtoHAsync)");
  return env.Undefined();
}

/** copyDtoD(to, from, bytes), queued on the stream (so it can be captured). */
Napi::Value CopyDtoD(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t to = 0, from = 0, bytes = 0;
  if (!ready(env) || !toPointer(env, info[0], "to", to) || !toPointer(env, info[1], "from", from) || !toCount(env, info[2], "bytes", bytes)) {
    return env.Undefined();
  }
  if (check(env, driver.cuMemcpyDtoDAsync_v2(to, from, bytes, stream), "cuMemcpyDtoDAsync")) settle(env, "cuMemcpyDtoDAsync");
  return env.Undefined();
}

/** loadModule(ptx: string) → module; JIT errors come back with the driver's log. */
Napi::Value LoadModule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ready(env)) return env.Undefined();
  if (!info[0].IsString()) {
    fail(env, "loadModule needs PTX text");
    return env.Undefined();
  }
  std::string ptx = info[0].As<Napi::String>().Utf8Value();
  std::vector<char> errors(16384, 0);
  std::vector<char> notes(16384, 0);
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
  void* values[] = {errors.data(), reinterpret_cast<void*>(static_cast<uintptr_t>(errors.size())), notes.data(),
                    reinterpret_cast<void*>(static_cast<uintptr_t>(notes.size()))};
  CUmodule module = nullptr;
  CUresult result = driver.cuModuleLoadDataEx(&module, ptx.c_str(), 4, options, values);
  if (result != CUDA_SUCCESS) {
    Napi::Error::New(env, std::string("kiln cuda: cuModuleLoadDataEx failed: ") + describe(result) + "\n" + errors.data()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return handle(env, module);
}

Napi::Value UnloadModule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t module = 0;
  if (!ready(env) || !toPointer(env, info[0], "module", module)) return env.Undefined();
  check(env, driver.cuModuleUnload(reinterpret_cast<CUmodule>(module)), "cuModuleUnload");
  return env.Undefined();
}

/** getFunction(module, name) → function. */
Napi::Value GetFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t module = 0;
  if (!ready(env) || !toPointer(env, info[0], "module", module)) return env.Undefined();
  if (!info[1].IsString()) {
    fail(env, "getFunction needs an entry name");
    return env.Undefined();
  }
  std::string name = info[1].As<Napi::String>().Utf8Value();
  CUfunction function = nullptr;
  if (!check(env, driver.cuModuleGetFunction(&function, reinterpret_cast<CUmodule>(module), name.c_str()), ("cuModuleGetFunction(" + name + ")").c_str())) {
    return env.Undefined();
  }
  return handle(env, function);
}

/** launch(function, [gx, gy, gz], blockSize, pointers: bigint[]): queued on the stream; every parameter is a device pointer. */
Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t function = 0, block = 0;
  if (!ready(env) || !toPointer(env, info[0], "function", function)) return env.Undefined();
  if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != 3) {
    fail(env, "launch needs a grid [x, y, z]");
    return env.Undefined();
  }
  Napi::Array gridArray = info[1].As<Napi::Array>();
  uint64_t grid[3];
  for (uint32_t i = 0; i < 3; i++) {
    if (!toCount(env, gridArray.Get(i), "grid dimension", grid[i])) return env.Undefined();
  }
  if (!toCount(env, info[2], "block size", block)) return env.Undefined();
  if (!info[3].IsArray()) {
    fail(env, "launch needs an array of buffer pointers");
    return env.Undefined();
  }
  Napi::Array pointerArray = info[3].As<Napi::Array>();
  std::vector<CUdeviceptr> pointers(pointerArray.Length());
  std::vector<void*> parameters(pointers.size());
  for (uint32_t i = 0; i < pointers.size(); i++) {
    uint64_t pointer = 0;
    if (!toPointer(env, pointerArray.Get(i), "buffer pointer", pointer)) return env.Undefined();
    pointers[i] = pointer;
    parameters[i] = &pointers[i];
  }
  CUresult result = driver.cuLaunchKernel(reinterpret_cast<CUfunction>(function), static_cast<unsigned int>(grid[0]), static_cast<unsigned int>(grid[1]),
                                          static_cast<unsigned int>(grid[2]), static_cast<unsigned int>(block), 1, 1, 0, stream,
                                          parameters.empty() ? nullptr : parameters.data(), nullptr);
  if (check(env, result, "cuLaunchKernel")) settle(env, "cuLaunchKernel");
  return env.Undefined();
}

/** synchronize(): waits for the stream; throws with the first asynchronous error. */
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ready(env)) check(env, driver.cuStreamSynchronize(stream), "cuStreamSynchronize");
  return env.Undefined();
}

/** beginCapture(): later launches and copies are recorded, not run, until endCapture(). */
Napi::Value BeginCapture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ready(env)) check(env, driver.cuStreamBeginCapture_v2(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
  return env.Undefined();
}

/** endCapture() → an instantiated graph (its recording is freed once instantiated). */
Napi::Value EndCapture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ready(env)) return env.Undefined();
  CUgraph graph = nullptr;
  if (!check(env, driver.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture")) return env.Undefined();
  CUgraphExec exec = nullptr;
  CUresult result = driver.cuGraphInstantiateWithFlags(&exec, graph, 0);
  driver.cuGraphDestroy(graph);
  if (!check(env, result, "cuGraphInstantiateWithFlags")) return env.Undefined();
  return handle(env, exec);
}

/** launchGraph(graph): replays a captured graph on the stream. */
Napi::Value LaunchGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t exec = 0;
  if (!ready(env) || !toPointer(env, info[0], "graph", exec)) return env.Undefined();
  if (check(env, driver.cuGraphLaunch(reinterpret_cast<CUgraphExec>(exec), stream), "cuGraphLaunch")) settle(env, "cuGraphLaunch");
  return env.Undefined();
}

Napi::Value DestroyGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t exec = 0;
  if (!ready(env) || !toPointer(env, info[0], "graph", exec)) return env.Undefined();
  check(env, driver.cuGraphExecDestroy(reinterpret_cast<CUgraphExec>(exec)), "cuGraphExecDestroy");
  return env.Undefined();
}

Napi::Object Register(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Value (*)(const Napi::CallbackInfo&)> functions[] = {
    {"available", Available}, {"init", Init}, {"setSyncEveryCall", SetSyncEveryCall},
    {"malloc", Malloc}, {"free", Free},
    {"copyHtoD", CopyHtoD}, {"copyDtoH", CopyDtoH}, {"copyDtoD", CopyDtoD},
    {"loadModule", LoadModule}, {"unloadModule", UnloadModule}, {"getFunction", GetFunction},
    {"launch", Launch}, {"synchronize", Synchronize},
    {"beginCapture", BeginCapture}, {"endCapture", EndCapture}, {"launchGraph", LaunchGraph}, {"destroyGraph", DestroyGraph},
    {"nvrtcLoad", NvrtcLoad}, {"nvrtcCompile", NvrtcCompile},
    {"cublasLtLoad", CublasLtLoad}, {"gemmPlan", GemmPlanCreate}, {"gemmRun", GemmRun}, {"gemmDestroy", GemmDestroy},
  };
  for (const auto& [name, function] : functions) exports.Set(name, Napi::Function::New(env, function, name));
  return exports;
}

}  // namespace

NODE_API_MODULE(kiln_cuda, Register)
