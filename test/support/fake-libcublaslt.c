// Test support · a fake libcublasLt.so for exercising the addon's cuBLASLt path
// and CudaDevice's GemmCalls without a GPU (test/runtime/cuda-fake-driver.test.ts
// builds it beside the fake libcuda). It implements cublasLtMatmul's documented
// semantics on host memory (the fake driver's device memory): D = op(A) · op(B)
// per batch, every matrix column-major with its leading dimension, op T
// transposing, strided batches, bf16 A and B, f32 accumulation in order, D in
// bf16 (round to nearest even) or f32. It checks what the real library would
// reject: ld below the stored rows, op shapes that do not chain, types it does
// not pair, pointers less aligned than the preference promised, a workspace
// smaller than the algorithm needs. It has no algorithm for an inner dimension
// over 1000, so tests can see a declined GEMM; with KILN_FAKE_CUBLASLT=create-fails
// it loads but cannot start. The matmul itself is queued through the fake
// driver's kilnFakeEnqueueHost, so stream capture records it like a launch.

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int Status;
enum { SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, NOT_SUPPORTED = 15 };
enum { R_32F = 0, R_16BF = 14, COMPUTE_32F = 68 };
enum { WORKSPACE_NEEDED = 4096 };

typedef struct { int transa, transb; } Desc;
typedef struct { int type; uint64_t rows, cols; int64_t ld; int32_t batch; int64_t stride; } Layout;
typedef struct { uint64_t workspace; uint32_t align[4]; } Preference;
typedef struct { uint64_t data[8]; } Algo;
typedef struct { Algo algo; size_t workspaceSize; Status state; float wavesCount; int reserved[4]; } Heuristic;
typedef struct { Desc desc; Layout a, b, d; const uint16_t* pa; const uint16_t* pb; void* pd; } Matmul;

static int handle_token;
static int (*enqueue)(void (*)(void*), void*);

size_t cublasLtGetVersion(void) { return 130100; }
const char* cublasLtGetStatusName(Status s) {
  switch (s) {
    case SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

Status cublasLtCreate(void** handle) {
  // a library that loads but cannot start (a driver it does not support)
  const char* mode = getenv("KILN_FAKE_CUBLASLT");
  if (mode && strcmp(mode, "create-fails") == 0) return NOT_INITIALIZED;
  void* cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  enqueue = cuda ? (int (*)(void (*)(void*), void*))dlsym(cuda, "kilnFakeEnqueueHost") : NULL;
  if (!enqueue) return NOT_INITIALIZED;
  *handle = &handle_token;
  return SUCCESS;
}

Status cublasLtMatmulDescCreate(Desc** desc, int compute, int scale) {
  if (compute != COMPUTE_32F || scale != R_32F) return NOT_SUPPORTED;
  *desc = calloc(1, sizeof(Desc));
  return SUCCESS;
}
Status cublasLtMatmulDescSetAttribute(Desc* desc, int attribute, const void* value, size_t bytes) {
  if (bytes != 4 || (attribute != 3 && attribute != 4)) return INVALID_VALUE;
  int op = *(const int32_t*)value;
  if (op != 0 && op != 1) return INVALID_VALUE;
  if (attribute == 3) desc->transa = op;
  else desc->transb = op;
  return SUCCESS;
}
Status cublasLtMatmulDescDestroy(Desc* desc) { free(desc); return SUCCESS; }

Status cublasLtMatrixLayoutCreate(Layout** layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
  if ((type != R_16BF && type != R_32F) || rows == 0 || cols == 0 || ld < (int64_t)rows) return INVALID_VALUE;
  *layout = calloc(1, sizeof(Layout));
  **layout = (Layout){type, rows, cols, ld, 1, 0};
  return SUCCESS;
}
Status cublasLtMatrixLayoutSetAttribute(Layout* layout, int attribute, const void* value, size_t bytes) {
  if (attribute == 5 && bytes == 4 && *(const int32_t*)value >= 1) layout->batch = *(const int32_t*)value;
  else if (attribute == 6 && bytes == 8 && *(const int64_t*)value >= 0) layout->stride = *(const int64_t*)value;
  else return INVALID_VALUE;
  return SUCCESS;
}
Status cublasLtMatrixLayoutDestroy(Layout* layout) { free(layout); return SUCCESS; }

Status cublasLtMatmulPreferenceCreate(Preference** preference) {
  *preference = calloc(1, sizeof(Preference));
  for (int i = 0; i < 4; i++) (*preference)->align[i] = 256;
  return SUCCESS;
}
Status cublasLtMatmulPreferenceSetAttribute(Preference* preference, int attribute, const void* value, size_t bytes) {
  if (attribute == 1 && bytes == 8) preference->workspace = *(const uint64_t*)value;
  else if (attribute >= 5 && attribute <= 8 && bytes == 4) preference->align[attribute - 5] = *(const uint32_t*)value;
  else return INVALID_VALUE;
  return SUCCESS;
}
Status cublasLtMatmulPreferenceDestroy(Preference* preference) { free(preference); return SUCCESS; }

static uint64_t op_rows(const Layout* x, int trans) { return trans ? x->cols : x->rows; }
static uint64_t op_cols(const Layout* x, int trans) { return trans ? x->rows : x->cols; }

Status cublasLtMatmulAlgoGetHeuristic(void* handle, Desc* desc, Layout* a, Layout* b, Layout* c, Layout* d, Preference* preference, int requested, Heuristic* results,
                                      int* found) {
  if (handle != &handle_token || requested < 1) return INVALID_VALUE;
  if (a->type != R_16BF || b->type != R_16BF || memcmp(c, d, sizeof(Layout)) != 0) return NOT_SUPPORTED;
  if (op_rows(a, desc->transa) != d->rows || op_cols(a, desc->transa) != op_rows(b, desc->transb) || op_cols(b, desc->transb) != d->cols) return INVALID_VALUE;
  if (a->batch != d->batch || b->batch != d->batch) return INVALID_VALUE;
  *found = 0;
  if (preference->workspace < WORKSPACE_NEEDED || op_cols(a, desc->transa) > 1000) return SUCCESS;
  memset(&results[0], 0, sizeof(Heuristic));
  for (int i = 0; i < 4; i++) results[0].algo.data[i] = preference->align[i];
  results[0].workspaceSize = WORKSPACE_NEEDED;
  *found = 1;
  return SUCCESS;
}

static float from_bf16(uint16_t v) {
  uint32_t bits = (uint32_t)v << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static uint16_t to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

static float element(const uint16_t* base, const Layout* x, int trans, int64_t batch, uint64_t row, uint64_t col) {
  // (row, col) of op(X): X's own element (col, row) when transposed
  uint64_t r = trans ? col : row;
  uint64_t c = trans ? row : col;
  return from_bf16(base[batch * x->stride + (int64_t)(r + c * (uint64_t)x->ld)]);
}

static void run_matmul(void* arg) {
  const Matmul* m = arg;
  const uint64_t rows = m->d.rows, cols = m->d.cols, inner = op_cols(&m->a, m->desc.transa);
  for (int64_t batch = 0; batch < m->d.batch; batch++) {
    for (uint64_t i = 0; i < rows; i++) {
      for (uint64_t j = 0; j < cols; j++) {
        float sum = 0;
        for (uint64_t l = 0; l < inner; l++) sum += element(m->pa, &m->a, m->desc.transa, batch, i, l) * element(m->pb, &m->b, m->desc.transb, batch, l, j);
        int64_t at = batch * m->d.stride + (int64_t)(i + j * (uint64_t)m->d.ld);
        if (m->d.type == R_16BF) ((uint16_t*)m->pd)[at] = to_bf16(sum);
        else ((float*)m->pd)[at] = sum;
      }
    }
  }
}

Status cublasLtMatmul(void* handle, Desc* desc, const float* alpha, const void* a, Layout* la, const void* b, Layout* lb, const float* beta, const void* c, Layout* lc,
                      void* d, Layout* ld, const Algo* algo, void* workspace, size_t workspaceBytes, void* stream) {
  (void)stream;
  if (handle != &handle_token || !algo || *alpha != 1.0f || *beta != 0.0f || c != d || memcmp(lc, ld, sizeof(Layout)) != 0) return INVALID_VALUE;
  if (!workspace || workspaceBytes < WORKSPACE_NEEDED) return INVALID_VALUE;
  const void* pointers[4] = {a, b, c, d};
  for (int i = 0; i < 4; i++) {
    if ((uintptr_t)pointers[i] % algo->data[i] != 0) return NOT_SUPPORTED;
  }
  Matmul* m = malloc(sizeof(Matmul));
  *m = (Matmul){*desc, *la, *lb, *ld, a, b, d};
  return enqueue(run_matmul, m) == 0 ? SUCCESS : INVALID_VALUE;
}
