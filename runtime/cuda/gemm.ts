// Runtime · CUDA: a GemmCall (compiler/schedule/gemm.ts) as one cuBLASLt matmul.
// cuBLASLt's matrices are column-major, kiln's output is row-major, so the call
// computes the transpose: outᵀ (n × m, leading dimension n) = bᵀ · aᵀ, with kiln's
// b as cuBLASLt's A and kiln's a as its B. A kiln matrix with contiguous columns
// is, read column-major, the transpose of what is needed (op T); one with
// contiguous rows is it as stored (op N). The library is dlopen()ed by the addon
// from the places listed here (KILN_CUBLASLT, the loader's path, the toolkit,
// the nvidia-cublas wheels PyTorch installs).

import type { GemmCall, GemmMatrix } from '../../compiler/program.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import { libraryCandidates } from './libraries.ts';

/** One cuBLASLt matmul, D = op(A) · op(B), every matrix column-major; what the addon's gemmPlan takes. */
export interface CublasLtMatmul {
  /** Rows of op(A) and D. */
  readonly m: number;
  /** Columns of op(B) and D. */
  readonly n: number;
  readonly k: number;
  readonly batch: number;
  readonly transA: boolean;
  readonly transB: boolean;
  /** Stored (not transposed) shape and leading dimension of A, B and D, and the batch strides, in elements. */
  readonly a: CublasLtLayout;
  readonly b: CublasLtLayout;
  readonly d: CublasLtLayout;
  /** 'bf16' operands; D in bf16 or f32. */
  readonly operands: 'bf16';
  readonly out: 'bf16' | 'f32';
  /** Byte alignment every matrix of A, B and D starts at (power of two ≤ 256), for the algorithm search. */
  readonly alignA: number;
  readonly alignB: number;
  readonly alignD: number;
}

export interface CublasLtLayout {
  readonly rows: number;
  readonly cols: number;
  readonly ld: number;
  readonly batchStride: number;
}

const BYTES = { [DType.BF16]: 2, [DType.F32]: 4 } as const;

/** The largest power of two ≤ 256 dividing every byte offset (device allocations are 256-byte aligned). */
function alignment(bytes: readonly number[]): number {
  let align = 256;
  for (const b of bytes) while (align > 1 && b % align !== 0) align /= 2;
  return align;
}

/** Kiln's rows × cols matrix as cuBLASLt's op(X) of that shape transposed (cols × rows), stored column-major. */
function transposedOperand(x: GemmMatrix, rows: number, cols: number, batch: number): { trans: boolean; layout: CublasLtLayout } {
  const batchStride = batch === 1 ? 0 : x.batchStride;
  // contiguous columns: column-major storage of the cols × rows transpose, as needed
  if (x.colStride === 1 && x.rowStride >= cols) return { trans: false, layout: { rows: cols, cols: rows, ld: x.rowStride, batchStride } };
  if (x.rowStride === 1 && x.colStride >= rows) return { trans: true, layout: { rows, cols, ld: x.colStride, batchStride } };
  throw new Error(`GemmCall: a ${rows} × ${cols} matrix with row stride ${x.rowStride} and column stride ${x.colStride} is neither row- nor column-major for cuBLASLt`);
}

export function cublasLtMatmul(call: GemmCall): CublasLtMatmul {
  const a = transposedOperand(call.b, call.k, call.n, call.batch);
  const b = transposedOperand(call.a, call.m, call.k, call.batch);
  const size = BYTES[call.operands];
  const starts = (x: GemmMatrix) => (call.batch === 1 ? [x.offset * size] : [x.offset * size, x.batchStride * size]);
  return {
    m: call.n,
    n: call.m,
    k: call.k,
    batch: call.batch,
    transA: a.trans,
    transB: b.trans,
    a: a.layout,
    b: b.layout,
    d: { rows: call.n, cols: call.m, ld: call.n, batchStride: call.batch === 1 ? 0 : call.m * call.n },
    operands: 'bf16',
    out: call.out === DType.BF16 ? 'bf16' : 'f32',
    alignA: alignment(starts(call.b)),
    alignB: alignment(starts(call.a)),
    alignD: alignment(call.batch === 1 ? [0] : [call.m * call.n * BYTES[call.out]]),
  };
}

const SONAMES = ['libcublasLt.so.13', 'libcublasLt.so.12', 'libcublasLt.so'];

/** Where to look for libcublasLt, in order: KILN_CUBLASLT, the loader's search, the toolkit, nvidia-cublas wheels. */
export function cublasLtCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.KILN_CUBLASLT) return [env.KILN_CUBLASLT];
  return libraryCandidates(SONAMES, /^libcublasLt\.so(\.\d+)*$/, ['nvidia/cublas/lib', 'nvidia/cu13/lib', 'torch/lib'], env);
}
