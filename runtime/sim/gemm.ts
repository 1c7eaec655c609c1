// Runtime · sim: a GemmCall (compiler/schedule/gemm.ts) computed from its
// definition, for the simulated device to stand in for cuBLASLt: strided batches
// of m × k and k × n matrices read from their buffers, products summed in f64,
// the output rounded to its storage dtype. Kept to the GemmCall's own words, so
// it checks the descriptors the compiler derives, not the cuBLASLt mapping
// (runtime/cuda/gemm.ts), which the fake-driver test covers.

import { DType } from '../../compiler/ir/dtype.ts';
import type { GemmCall } from '../../compiler/program.ts';
import { bf16Round } from '../cpu/numeric.ts';

/** out (binding 0) = a · b per batch; `buffers` are the kernel's bindings in order, as decoded values. */
export function runGemmCall(call: GemmCall, buffers: readonly Float64Array[]): void {
  const out = buffers[0]!;
  const a = buffers[call.a.binding]!;
  const b = buffers[call.b.binding]!;
  const round = call.out === DType.BF16 ? bf16Round : Math.fround;
  for (let batch = 0; batch < call.batch; batch++) {
    for (let i = 0; i < call.m; i++) {
      for (let j = 0; j < call.n; j++) {
        let sum = 0;
        for (let l = 0; l < call.k; l++) {
          const x = a[call.a.offset + batch * call.a.batchStride + i * call.a.rowStride + l * call.a.colStride];
          const y = b[call.b.offset + batch * call.b.batchStride + l * call.b.rowStride + j * call.b.colStride];
          if (x === undefined || y === undefined) throw new Error(`GemmCall reads outside its operands at batch ${batch}, row ${i}, column ${j}, k ${l}`);
          sum += x * y;
        }
        out[(batch * call.m + i) * call.n + j] = round(sum);
      }
    }
  }
}
