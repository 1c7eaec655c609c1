// Test support · run in a child process whose LD_LIBRARY_PATH puts
// test/support/fake-libcuda.c and fake-libcublaslt.c (built) first: drives the
// real addon and CudaDevice through the Executor against the fake driver and
// library, and prints one JSON line of what it observed, for
// test/runtime/cuda-fake-driver.test.ts to check. GEMM results are compared here
// with runtime/sim/gemm.ts, the GemmCall's own definition.

import { printCuda, cudaEntryName } from '../../compiler/codegen/cuda.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import type { Program } from '../../compiler/program.ts';
import type { GemmCall } from '../../compiler/program.ts';
import { CudaDevice, cudaAvailability, cudaDevice, loadAddon } from '../../runtime/cuda/device.ts';
import { runGemmCall } from '../../runtime/sim/gemm.ts';
import { Executor } from '../../runtime/executor.ts';
import { KernelIr, buf } from './kernel-ir.ts';

const k = new KernelIr();
k.store(0, k.i32(0), k.i32(7));
const kernel = k.kernel('bump', [buf('out', DType.I32, 4, 'read_write')], 1, 32);
const entry = cudaEntryName(kernel);
// The fake driver only checks that the module declares the entry.
const program: Program = {
  target: 'cuda',
  buffers: [
    { id: 0, name: 'out', dtype: DType.I32, size: 4, shape: [4], role: 'output' },
    { id: 1, name: 'p', dtype: DType.I32, size: 4, shape: [4], role: 'param' },
  ],
  kernels: [{ name: 'bump', source: printCuda(kernel, { grid: [1, 1, 1] }), entryPoint: entry, bindings: [0], workgroupSize: 32, grid: [1, 1, 1], ir: kernel, ptx: `.version 9.0\n.target sm_90\n.visible .entry ${entry}(\n)\n{\n\tret;\n}\n` }],
  steps: [{ kind: 'dispatch', kernel: 0 }, { kind: 'copy', from: 0, to: 1 }, { kind: 'dispatch', kernel: 0 }],
  outputs: { out: 0 },
  inputs: {},
  params: { p: 1 },
};

const found = loadAddon();
const missingLibrary = 'addon' in found ? found.addon.cublasLtLoad(['/nonexistent/libcublasLt.so.13']) : undefined;
const availability = cudaAvailability();
const device = cudaDevice();
const exec = await Executor.create(device, program);
const first = Array.from((await exec.run({})).out!.data);
const paramAfterFirst = Array.from(await exec.readParam('p'));
const second = Array.from((await exec.run({})).out!.data);
const paramAfterSecond = Array.from(await exec.readParam('p'));
exec.setParam('p', [5, -6, 7, 2147483647]);
const paramSet = Array.from(await exec.readParam('p'));

const roundTrips: Record<string, number[]> = {};
for (const [dtype, values] of [[DType.F32, [1.5, -0, 3e-39, 1e30]], [DType.F16, [1.5, -2, 65504, 1e-7]], [DType.BF16, [1.5, -2, 3e38, 0.1]], [DType.U32, [0, 1, 4294967295, 7]], [DType.Bool, [1, 0, 1, 1]]] as const) {
  const b = device.allocate(`rt_${dtype}`, dtype, values.length);
  device.upload(b, values);
  roundTrips[dtype] = Array.from((await device.download([b]))[0]!);
  device.release(b);
}

let badPtx = '';
try {
  await device.compile({ ...program.kernels[0]!, ptx: '.version 9.0\n' });
} catch (error) {
  badPtx = error instanceof Error ? error.message : String(error);
}
let badLaunch = '';
try {
  const compiled = (await device.compile(program.kernels[0]!)) as unknown as { fn: bigint };
  device.addon.launch(compiled.fn, [0, 1, 1], 32, []);
} catch (error) {
  badLaunch = error instanceof Error ? error.message : String(error);
}

// Two GEMMs in one step list, the second reading the first's bf16 output: a batched product with a sliced
// operand and a weight shared by both batches ([n, k] storage), then one with a column-major operand at an offset.
const first3: GemmCall = {
  batch: 2, m: 3, n: 4, k: 5, operands: DType.BF16, out: DType.BF16,
  a: { binding: 1, offset: 8, batchStride: 15, rowStride: 5, colStride: 1 },
  b: { binding: 2, offset: 0, batchStride: 0, rowStride: 1, colStride: 5 },
};
const second3: GemmCall = {
  batch: 1, m: 6, n: 3, k: 4, operands: DType.BF16, out: DType.F32,
  a: { binding: 1, offset: 0, batchStride: 0, rowStride: 4, colStride: 1 },
  b: { binding: 2, offset: 2, batchStride: 0, rowStride: 1, colStride: 6 },
};
const gemmKernel = (name: string, call: GemmCall, sizes: readonly number[]) => {
  const g = new KernelIr();
  g.store(0, g.i32(0), g.const(DType.F32, 0));
  const ir = g.kernel(name, sizes.map((n, i) => buf(`${name}_${i}`, i === 0 ? call.out : DType.BF16, n, i === 0 ? 'read_write' : 'read')), 1, 32);
  return { name, source: '', entryPoint: cudaEntryName(ir), bindings: [] as number[], workgroupSize: 32, grid: [1, 1, 1] as [number, number, number], ir, gemm: call, ptx: `.version 9.0\n.target sm_90\n.visible .entry ${cudaEntryName(ir)}(\n)\n{\n\tret;\n}\n` };
};
const gemmProgram: Program = {
  target: 'cuda',
  buffers: [
    { id: 0, name: 'x', dtype: DType.BF16, size: 38, shape: [38], role: 'input' },
    { id: 1, name: 'w', dtype: DType.BF16, size: 20, shape: [20], role: 'param' },
    { id: 2, name: 'h', dtype: DType.BF16, size: 24, shape: [24], role: 'output' },
    { id: 3, name: 'v', dtype: DType.BF16, size: 20, shape: [20], role: 'param' },
    { id: 4, name: 'y', dtype: DType.F32, size: 18, shape: [18], role: 'output' },
  ],
  kernels: [{ ...gemmKernel('gemm_h', first3, [24, 38, 20]), bindings: [2, 0, 1] }, { ...gemmKernel('gemm_y', second3, [18, 24, 20]), bindings: [4, 2, 3] }],
  steps: [{ kind: 'dispatch', kernel: 0 }, { kind: 'dispatch', kernel: 1 }],
  outputs: { h: 2, y: 4 },
  inputs: { x: 0 },
  params: { w: 1, v: 3 },
};
// multiples of 1/8 of small integers: every product and sum is exact in f32 and every h in bf16
const eighths = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (((i * 7 + seed) % 11) - 5) / 8);
const w = eighths(20, 1);
const v = eighths(20, 2);
const expected = (x: number[]) => {
  const h = new Float64Array(24);
  const y = new Float64Array(18);
  runGemmCall(first3, [h, Float64Array.from(x), Float64Array.from(w)]);
  runGemmCall(second3, [y, h, Float64Array.from(v)]);
  return { h: Array.from(h), y: Array.from(y) };
};
if (process.env.KILN_FAKE_CUBLASLT === 'create-fails') {
  const warnings: string[] = [];
  console.warn = (line: string) => warnings.push(line);
  const kinds = [];
  for (const kernel of gemmProgram.kernels) kinds.push((await device.compile(kernel)).constructor.name);
  console.log(JSON.stringify({ kinds, warnings, gemmLibrary: device.gemmLibrary, compileGemm: device.compileOptions().gemm }));
  process.exit(0);
}
const gemmExec = await Executor.create(device, gemmProgram);
gemmExec.setParam('w', w);
gemmExec.setParam('v', v);
const gemmRuns = [];
for (const seed of [3, 4]) {
  const x = eighths(38, seed);
  const out = await gemmExec.run({ x });
  gemmRuns.push({ got: { h: Array.from(out.h!.data), y: Array.from(out.y!.data) }, want: expected(x) });
}
const gemmKernelKinds = await Promise.all(gemmProgram.kernels.map(async (k) => (await device.compile(k)).constructor.name));

let pastTheEnd = '';
try {
  const buffers = [device.allocate('o', DType.BF16, 24), device.allocate('x', DType.BF16, 30), device.allocate('w', DType.BF16, 20)];
  device.bind(await device.compile(gemmProgram.kernels[0]!), buffers, [1, 1, 1]);
} catch (error) {
  pastTheEnd = error instanceof Error ? error.message : String(error);
}
const warnings: string[] = [];
const warn = console.warn;
console.warn = (line: string) => warnings.push(line);
const longK: GemmCall = { batch: 1, m: 1, n: 1, k: 1001, operands: DType.BF16, out: DType.F32, a: { binding: 1, offset: 0, batchStride: 0, rowStride: 1001, colStride: 1 }, b: { binding: 2, offset: 0, batchStride: 0, rowStride: 1, colStride: 1001 } };
const declined = {
  kernels: [(await device.compile(gemmKernel('gemm_long', longK, [1, 1001, 1001]))).constructor.name, (await device.compile(gemmKernel('gemm_long2', longK, [1, 1001, 1001]))).constructor.name],
  warnings,
};
console.warn = warn;
const kernelsOnly = new CudaDevice(device.addon, device.info, { ok: false, reason: 'KILN_CUDA_GEMM=kernel' });
const withoutLibrary = { gemm: kernelsOnly.compileOptions().gemm, kernel: (await kernelsOnly.compile(gemmProgram.kernels[0]!)).constructor.name };

console.log(JSON.stringify({
  availability, description: device.description, first, paramAfterFirst, second, paramAfterSecond, paramSet, roundTrips, badPtx, badLaunch,
  missingLibrary, gemmLibrary: device.gemmLibrary, compileGemm: device.compileOptions().gemm, gemmRuns, gemmKernelKinds, pastTheEnd, withoutLibrary, declined,
}));
