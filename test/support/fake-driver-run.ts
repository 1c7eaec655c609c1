// Test support · run in a child process whose LD_LIBRARY_PATH puts
// test/support/fake-libcuda.c (built) first: drives the real addon and CudaDevice
// through the Executor against the fake driver and prints one JSON line of what
// it observed, for test/runtime/cuda-fake-driver.test.ts to check.

import { printCuda, cudaEntryName } from '../../compiler/codegen/cuda.ts';
import { DType } from '../../compiler/ir/dtype.ts';
import type { Program } from '../../compiler/program.ts';
import { cudaAvailability, cudaDevice } from '../../runtime/cuda/device.ts';
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

console.log(JSON.stringify({ availability, description: device.description, first, paramAfterFirst, second, paramAfterSecond, paramSet, roundTrips, badPtx, badLaunch }));
