// Test support · a fake libcuda.so.1 for exercising the CUDA addon and CudaDevice
// on machines without a GPU (test/runtime/cuda-fake-driver.test.ts builds it with
// cc and puts it first on LD_LIBRARY_PATH of a child process). Device memory is
// host memory; copies and memsets are real. A "kernel launch" cannot run PTX, so it
// does one observable thing instead: it adds 1 to the first u32 word of its first
// buffer parameter. Stream capture records launches, copies and memsets instead of
// running them, and a graph launch replays the recording, so tests can tell a
// capture from a replay. Modules must contain ".entry <name>(" for each function
// looked up; PTX without any ".entry" fails as CUDA_ERROR_INVALID_PTX with a log.
// kilnFakeEnqueueHost(fn, arg) queues host work on the stream the same way (run
// now, or recorded while capturing): test/support/fake-libcublaslt.c runs its
// matmuls through it, so they are captured and replayed like launches.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum { OK = 0, INVALID_VALUE = 1, INVALID_PTX = 218, NOT_FOUND = 500, ILLEGAL_STATE = 401 };
enum { COPY, MEMSET, LAUNCH, HOST };

typedef struct { int kind; CUdeviceptr to, from; size_t bytes; unsigned char value; void (*fn)(void*); void* arg; } Op;
typedef struct { Op* ops; size_t count, capacity; } Recording;
typedef struct { char* ptx; } Module;
typedef struct { char name[256]; } Function;

static Recording* capturing = NULL;
static int context_token, stream_token;

static void record(Recording* r, Op op) {
  if (r->count == r->capacity) {
    r->capacity = r->capacity ? 2 * r->capacity : 16;
    r->ops = realloc(r->ops, r->capacity * sizeof(Op));
  }
  r->ops[r->count++] = op;
}

static void apply(Op op) {
  switch (op.kind) {
    case COPY: memmove((void*)(uintptr_t)op.to, (const void*)(uintptr_t)op.from, op.bytes); break;
    case MEMSET: memset((void*)(uintptr_t)op.to, op.value, op.bytes); break;
    case LAUNCH: if (op.to) ++*(uint32_t*)(uintptr_t)op.to; break;
    case HOST: op.fn(op.arg); break;
  }
}

static CUresult run(Op op) {
  if (capturing) record(capturing, op);
  else apply(op);
  return OK;
}

int kilnFakeEnqueueHost(void (*fn)(void*), void* arg) { return run((Op){HOST, 0, 0, 0, 0, fn, arg}); }

CUresult cuInit(unsigned int flags) { (void)flags; return OK; }
CUresult cuDriverGetVersion(int* v) { *v = 13000; return OK; }
CUresult cuGetErrorName(CUresult r, const char** s) {
  *s = r == INVALID_PTX ? "CUDA_ERROR_INVALID_PTX" : r == NOT_FOUND ? "CUDA_ERROR_NOT_FOUND" : r == ILLEGAL_STATE ? "CUDA_ERROR_ILLEGAL_STATE" : "CUDA_ERROR_INVALID_VALUE";
  return OK;
}
CUresult cuGetErrorString(CUresult r, const char** s) { *s = r == INVALID_PTX ? "a PTX JIT compilation failed" : "fake driver error"; return OK; }
CUresult cuDeviceGetCount(int* n) { *n = 1; return OK; }
CUresult cuDeviceGet(int* d, int ordinal) { *d = ordinal; return ordinal == 0 ? OK : INVALID_VALUE; }
CUresult cuDeviceGetName(char* name, int length, int d) { (void)d; strncpy(name, "kiln fake GPU", (size_t)length); return OK; }
CUresult cuDeviceGetAttribute(int* v, int attribute, int d) {
  (void)d;
  switch (attribute) {
    case 1: *v = 1024; break;          /* max threads per block */
    case 5: *v = 2147483647; break;    /* max grid x */
    case 8: *v = 49152; break;         /* shared memory per block */
    case 16: *v = 132; break;          /* SMs */
    case 75: *v = 9; break;            /* compute capability */
    case 76: *v = 0; break;
    default: *v = 0;
  }
  return OK;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, int d) { (void)d; *bytes = (size_t)1 << 30; return OK; }
CUresult cuDevicePrimaryCtxRetain(void** c, int d) { (void)d; *c = &context_token; return OK; }
CUresult cuCtxSetCurrent(void* c) { (void)c; return OK; }
// cuMemAlloc's allocations are 256-byte aligned; GEMM alignment math relies on it
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  void* memory = NULL;
  if (posix_memalign(&memory, 256, bytes) != 0) return INVALID_VALUE;
  *p = (CUdeviceptr)(uintptr_t)memory;
  return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) { free((void*)(uintptr_t)p); return OK; }
CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, void* s) { (void)s; return run((Op){MEMSET, p, 0, n, v}); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr to, const void* from, size_t n, void* s) { (void)s; memcpy((void*)(uintptr_t)to, from, n); return OK; }
CUresult cuMemcpyDtoHAsync_v2(void* to, CUdeviceptr from, size_t n, void* s) { (void)s; memcpy(to, (const void*)(uintptr_t)from, n); return OK; }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr to, CUdeviceptr from, size_t n, void* s) { (void)s; return run((Op){COPY, to, from, n, 0}); }

CUresult cuModuleLoadDataEx(void** m, const void* image, unsigned int n, int* options, void** values) {
  const char* ptx = image;
  if (!strstr(ptx, ".entry")) {
    for (unsigned int i = 0; i < n; i++) {
      if (options[i] == 5) strcpy((char*)values[i], "ptxas fatal: fake driver found no .entry");
    }
    return INVALID_PTX;
  }
  Module* module = malloc(sizeof(Module));
  module->ptx = strdup(ptx);
  *m = module;
  return OK;
}
CUresult cuModuleGetFunction(void** f, void* m, const char* name) {
  char pattern[300];
  snprintf(pattern, sizeof pattern, ".entry %s(", name);
  if (!strstr(((Module*)m)->ptx, pattern)) return NOT_FOUND;
  Function* fn = malloc(sizeof(Function));
  strncpy(fn->name, name, sizeof fn->name - 1);
  *f = fn;
  return OK;
}
CUresult cuModuleUnload(void* m) { free(((Module*)m)->ptx); free(m); return OK; }
CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared, void* s,
                        void** params, void** extra) {
  (void)f; (void)shared; (void)s; (void)extra;
  if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || bx * by * bz > 1024) return INVALID_VALUE;
  return run((Op){LAUNCH, params ? *(CUdeviceptr*)params[0] : 0, 0, 0, 0});
}
CUresult cuStreamCreate(void** s, unsigned int flags) { (void)flags; *s = &stream_token; return OK; }
CUresult cuStreamSynchronize(void* s) { (void)s; return OK; }
CUresult cuStreamBeginCapture_v2(void* s, int mode) {
  (void)s; (void)mode;
  if (capturing) return ILLEGAL_STATE;
  capturing = calloc(1, sizeof(Recording));
  return OK;
}
CUresult cuStreamEndCapture(void* s, void** graph) {
  (void)s;
  if (!capturing) return ILLEGAL_STATE;
  *graph = capturing;
  capturing = NULL;
  return OK;
}
CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) {
  (void)flags;
  Recording* from = graph;
  Recording* copy = calloc(1, sizeof(Recording));
  for (size_t i = 0; i < from->count; i++) record(copy, from->ops[i]);
  *exec = copy;
  return OK;
}
CUresult cuGraphLaunch(void* exec, void* s) {
  (void)s;
  Recording* r = exec;
  for (size_t i = 0; i < r->count; i++) apply(r->ops[i]);
  return OK;
}
CUresult cuGraphExecDestroy(void* exec) { free(((Recording*)exec)->ops); free(exec); return OK; }
CUresult cuGraphDestroy(void* graph) { free(((Recording*)graph)->ops); free(graph); return OK; }
