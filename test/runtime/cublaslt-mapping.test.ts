// GemmCall → cuBLASLt (runtime/cuda/gemm.ts), as arithmetic: for random strided
// GemmCalls (row- and column-major operands with padded leading dimensions,
// offsets, shared and strided batches) the column-major matmul cublasLtMatmul()
// describes, evaluated by cuBLASLt's documented rules (op(X)(r, c) is X[r + c·ld],
// or X[c + r·ld] transposed; D column-major), gives what the GemmCall's own
// definition (runtime/sim/gemm.ts) gives; and every layout is one the library
// accepts (ld ≥ stored rows), every alignment divides its matrices' byte offsets.
// The fake-driver test runs the same mapping through the addon; this one covers
// the layout space without a C compiler.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DType } from '../../compiler/ir/dtype.ts';
import type { GemmCall, GemmMatrix } from '../../compiler/program.ts';
import { cublasLtCandidates, cublasLtMatmul, type CublasLtLayout, type CublasLtMatmul } from '../../runtime/cuda/gemm.ts';
import { runGemmCall } from '../../runtime/sim/gemm.ts';

/** A rows × cols operand: row- or column-major, its leading dimension padded, at an offset, batches strided or shared. */
const matrixArb = (rows: number, cols: number, batch: number) =>
  fc.record({ rowMajor: fc.boolean(), pad: fc.nat(2), offset: fc.nat(3), shared: fc.boolean(), gap: fc.nat(3) }).map(({ rowMajor, pad, offset, shared, gap }) => {
    const ld = (rowMajor ? cols : rows) + pad;
    const span = rowMajor ? rows * ld : cols * ld;
    const matrix: GemmMatrix = { binding: 0, offset, batchStride: shared || batch === 1 ? 0 : span + gap, rowStride: rowMajor ? ld : 1, colStride: rowMajor ? 1 : ld };
    return matrix;
  });

const callArb = fc.record({ batch: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 5 }), bf16Out: fc.boolean() }).chain(({ batch, m, n, k, bf16Out }) =>
  fc.tuple(matrixArb(m, k, batch), matrixArb(k, n, batch)).map(([a, b]): GemmCall => ({ batch, m, n, k, a: { ...a, binding: 1 }, b: { ...b, binding: 2 }, operands: DType.BF16, out: bf16Out ? DType.BF16 : DType.F32 })));

function span(x: GemmMatrix, batch: number, rows: number, cols: number): number {
  return x.offset + (batch - 1) * x.batchStride + (rows - 1) * x.rowStride + (cols - 1) * x.colStride + 1;
}

/** D = op(A) · op(B) by cuBLASLt's definition, all column-major. */
function columnMajorMatmul(mm: CublasLtMatmul, a: Float64Array, aOffset: number, b: Float64Array, bOffset: number): Float64Array {
  const d = new Float64Array(mm.batch * mm.d.batchStride + mm.d.ld * mm.n);
  const op = (x: Float64Array, offset: number, layout: CublasLtLayout, trans: boolean, batch: number, r: number, c: number) =>
    x[offset + batch * layout.batchStride + (trans ? c + r * layout.ld : r + c * layout.ld)]!;
  for (let batch = 0; batch < mm.batch; batch++) {
    for (let i = 0; i < mm.m; i++) {
      for (let j = 0; j < mm.n; j++) {
        let sum = 0;
        for (let l = 0; l < mm.k; l++) sum += op(a, aOffset, mm.a, mm.transA, batch, i, l) * op(b, bOffset, mm.b, mm.transB, batch, l, j);
        d[batch * mm.d.batchStride + i + j * mm.d.ld] = sum;
      }
    }
  }
  return d;
}

describe('GemmCall → cuBLASLt matmul', () => {
  it('computes, column-major, what the GemmCall defines, with layouts cuBLASLt accepts', () => {
    fc.assert(
      fc.property(callArb, (call) => {
        const aValues = Float64Array.from({ length: span(call.a, call.batch, call.m, call.k) }, (_, i) => ((i * 5) % 7) - 3);
        const bValues = Float64Array.from({ length: span(call.b, call.batch, call.k, call.n) }, (_, i) => ((i * 3) % 5) - 2);
        const want = new Float64Array(call.batch * call.m * call.n);
        runGemmCall({ ...call, out: DType.F32 }, [want, aValues, bValues]);
        const mm = cublasLtMatmul(call);
        // cuBLASLt's A is kiln's b and its B kiln's a
        const got = columnMajorMatmul(mm, bValues, call.b.offset, aValues, call.a.offset);
        for (const layout of [mm.a, mm.b, mm.d]) expect(layout.ld).toBeGreaterThanOrEqual(layout.rows);
        expect([mm.m, mm.n, mm.k]).toEqual([call.n, call.m, call.k]);
        expect(Array.from(got.subarray(0, want.length))).toEqual(Array.from(want));
        expect(mm.out).toBe(call.out === DType.BF16 ? 'bf16' : 'f32');
        expect((call.b.offset * 2) % mm.alignA).toBe(0);
        expect((call.a.offset * 2) % mm.alignB).toBe(0);
        if (call.batch > 1) expect([(call.b.batchStride * 2) % mm.alignA, (call.a.batchStride * 2) % mm.alignB]).toEqual([0, 0]);
      }),
      { numRuns: 300, seed: 20261128 },
    );
  });

  it('looks for the library where PyTorch and the toolkit put it, or only where KILN_CUBLASLT says', () => {
    expect(cublasLtCandidates({ KILN_CUBLASLT: '/x/libcublasLt.so.12' })).toEqual(['/x/libcublasLt.so.12']);
    expect(cublasLtCandidates({}).slice(0, 3)).toEqual(['libcublasLt.so.13', 'libcublasLt.so.12', 'libcublasLt.so']);
  });
});
