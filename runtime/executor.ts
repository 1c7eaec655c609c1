// Runtime · the Executor runs a Program on a Device. In: the Program (buffers,
// kernels with generated source, ordered steps) and, per run, the input values.
// Out: the outputs asked for, as float64 host tensors. At load it allocates every
// buffer and creates every pipeline; a run uploads inputs, encodes all steps in
// one submission (copy steps update params in place) and reads back only what
// the caller asked for. Params live on the device across runs.

import { debugLevel } from '../compiler/debug.ts';
import type { DType } from '../compiler/ir/dtype.ts';
import type { Node } from '../compiler/ir/node.ts';
import type { Program, ProgramBuffer, ProgramKernel } from '../compiler/program.ts';
import { view } from './cpu/ops.ts';
import type { BoundKernel, CompiledKernel, Device, DeviceBuffer, DeviceStep } from './device.ts';

export interface ExecutorOptions {
  /** Dump level (see compiler/debug.ts); defaults to KILN_DEBUG. */
  readonly debug?: number;
}

export interface RunOptions {
  /** Output names to read back (default: every output). */
  readonly read?: readonly string[];
}

export interface RunOutput {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

function describe(buffer: ProgramBuffer): string {
  return `${buffer.dtype}[${buffer.shape.join(', ')}]`;
}

function kernelLine(kernel: ProgramKernel, program: Program): string {
  const bindings = kernel.bindings.map((id, i) => `${program.buffers.find((b) => b.id === id)?.name ?? `#${id}`}:${kernel.ir.buffers[i]?.access ?? '?'}`);
  return `  ${kernel.name}  grid ${kernel.grid.join('x')}  workgroup ${kernel.workgroupSize}  bindings [${bindings.join(', ')}]`;
}

export class Executor {
  private constructor(
    readonly device: Device,
    readonly program: Program,
    private readonly buffers: ReadonlyMap<number, DeviceBuffer>,
    private readonly steps: readonly DeviceStep[],
    private readonly debug: number,
  ) {}

  /** Allocates the Program's buffers and compiles and binds all its kernels. */
  static async create(device: Device, program: Program, options: ExecutorOptions = {}): Promise<Executor> {
    const debug = debugLevel(options.debug);
    if (program.target !== device.kind) throw new Error(`Executor: a ${program.target} program cannot run on a ${device.kind} device`);
    const byId = new Map<number, ProgramBuffer>();
    for (const b of program.buffers) {
      if (byId.has(b.id)) throw new Error(`Executor: buffer id ${b.id} appears twice (${byId.get(b.id)!.name}, ${b.name})`);
      byId.set(b.id, b);
    }
    const buffer = (id: number, where: string): ProgramBuffer => {
      const found = byId.get(id);
      if (!found) throw new Error(`Executor: ${where} refers to buffer ${id}, which the program does not declare`);
      return found;
    };
    for (const [kind, table] of [['input', program.inputs], ['output', program.outputs], ['param', program.params]] as const) {
      for (const [name, id] of Object.entries(table)) buffer(id, `${kind} "${name}"`);
    }
    for (const kernel of program.kernels) checkBindings(kernel, buffer);

    const allocated = new Map<number, DeviceBuffer>();
    for (const b of program.buffers) allocated.set(b.id, device.allocate(b.name, b.dtype, b.size));
    if (debug >= 1) {
      console.error(`kiln: program with ${program.kernels.length} kernel(s), ${program.steps.length} step(s) on ${device.kind}`);
      for (const kernel of program.kernels) console.error(kernelLine(kernel, program));
    }
    if (debug >= 4) for (const kernel of program.kernels) console.error(`kiln: ${kernel.name} source:\n${kernel.source}`);

    // Kernels with identical source (the same block repeated at every depth) share one
    // pipeline: a 28-block model compiles each distinct kernel once, not 28 times.
    const bySource = new Map<string, Promise<CompiledKernel>>();
    const compiled = await Promise.all(program.kernels.map((k) => {
      const key = `${k.entryPoint}\n${k.source.replace(/\/\/.*$/gm, '')}`; // comments name the kernel and its buffers
      let pending = bySource.get(key);
      if (!pending) bySource.set(key, (pending = device.compile(k)));
      return pending;
    }));
    if (debug >= 1) console.error(`kiln: ${bySource.size} distinct kernel source(s) of ${program.kernels.length}`);
    const bound: BoundKernel[] = program.kernels.map((k, i) =>
      device.bind(compiled[i]!, k.bindings.map((id) => allocated.get(id)!), k.grid));
    const steps: DeviceStep[] = program.steps.map((step, i): DeviceStep => {
      if (step.kind === 'dispatch') {
        const kernel = bound[step.kernel];
        if (!kernel) throw new Error(`Executor: step ${i} dispatches kernel ${step.kernel}, the program has ${bound.length}`);
        return { kind: 'dispatch', kernel };
      }
      const from = buffer(step.from, `copy step ${i}`);
      const to = buffer(step.to, `copy step ${i}`);
      if (from.dtype !== to.dtype || from.size !== to.size) {
        throw new Error(`Executor: copy step ${i} from ${from.name} (${describe(from)}) to ${to.name} (${describe(to)}) needs equal dtype and size`);
      }
      return { kind: 'copy', from: allocated.get(from.id)!, to: allocated.get(to.id)! };
    });
    await device.synchronize();
    return new Executor(device, program, allocated, steps, debug);
  }

  private named(table: Readonly<Record<string, number>>, name: string, kind: string): { buffer: ProgramBuffer; device: DeviceBuffer } {
    const id = table[name];
    if (id === undefined) throw new Error(`Executor: no ${kind} "${name}" (the program has: ${Object.keys(table).join(', ') || 'none'})`);
    return { buffer: this.program.buffers.find((b) => b.id === id)!, device: this.buffers.get(id)! };
  }

  /** Overwrites a param's device buffer (it persists across runs). */
  setParam(name: string, values: ArrayLike<number>): void {
    const { buffer, device } = this.named(this.program.params, name, 'param');
    if (values.length !== buffer.size) throw new Error(`Executor.setParam: param "${name}" is ${describe(buffer)} (${buffer.size} values), got ${values.length}`);
    this.device.upload(device, values);
  }

  async readParam(name: string): Promise<Float64Array> {
    const { device } = this.named(this.program.params, name, 'param');
    const [data] = await this.device.download([device]);
    return data!;
  }

  /** Uploads inputs, runs every step, and reads back the outputs named in `options.read` (default all). */
  async run(inputs: Readonly<Record<string, ArrayLike<number> | number>>, options: RunOptions = {}): Promise<Record<string, RunOutput>> {
    for (const name of Object.keys(inputs)) {
      if (!(name in this.program.inputs)) throw new Error(`Executor.run: unknown input "${name}" (the program takes: ${Object.keys(this.program.inputs).join(', ') || 'none'})`);
    }
    const read = options.read ?? Object.keys(this.program.outputs);
    const outputs = read.map((name) => ({ name, ...this.named(this.program.outputs, name, 'output') }));
    for (const [name, id] of Object.entries(this.program.inputs)) {
      const buffer = this.program.buffers.find((b) => b.id === id)!;
      const value = inputs[name];
      if (value === undefined) throw new Error(`Executor.run: missing input "${name}" (${describe(buffer)})`);
      if (typeof value !== 'number' && value.length !== buffer.size) {
        throw new Error(`Executor.run: input "${name}" has ${value.length} values, expected ${describe(buffer)} (${buffer.size} values)`);
      }
      this.device.upload(this.buffers.get(id)!, typeof value === 'number' ? new Float64Array(buffer.size).fill(value) : value);
    }
    if (this.debug >= 2) await this.timedSteps();
    else this.device.submit(this.steps);
    const data = await this.device.download(outputs.map((o) => o.device));
    const result: Record<string, RunOutput> = {};
    outputs.forEach((o, i) => {
      result[o.name] = this.viewed(o.name, { dtype: o.buffer.dtype, shape: o.buffer.shape, data: data[i]! });
    });
    return result;
  }

  /** Applies an output's view ops (Program.outputViews) to the buffer read back. */
  private viewed(name: string, raw: RunOutput): RunOutput {
    let { shape, data } = raw;
    for (const v of this.program.outputViews?.[name] ?? []) {
      data = view({ op: v.op, shape: v.shape, arg: v.arg } as Node, data, shape);
      shape = v.shape;
    }
    return { dtype: raw.dtype, shape, data };
  }

  /** KILN_DEBUG ≥ 2: one submission per step so each kernel's wall time can be measured. */
  private async timedSteps(): Promise<void> {
    const start = performance.now();
    const lines: string[] = [];
    for (const [i, step] of this.steps.entries()) {
      const t0 = performance.now();
      this.device.submit([step]);
      await this.device.synchronize();
      const ms = (performance.now() - t0).toFixed(3);
      const programStep = this.program.steps[i]!;
      const what = programStep.kind === 'dispatch' ? this.program.kernels[programStep.kernel]!.name : `copy ${programStep.from} → ${programStep.to}`;
      lines.push(`  ${what}  ${ms} ms`);
    }
    console.error(`kiln: run ${(performance.now() - start).toFixed(3)} ms (${this.steps.length} steps)\n${lines.join('\n')}`);
  }

  /** Frees every device buffer; the Executor is unusable afterwards. */
  dispose(): void {
    for (const b of this.buffers.values()) this.device.release(b);
  }
}

/** A kernel's bindings must match its Kernel IR buffers, and a written buffer may not be bound twice (WebGPU forbids that aliasing). */
function checkBindings(kernel: ProgramKernel, buffer: (id: number, where: string) => ProgramBuffer): void {
  if (kernel.bindings.length !== kernel.ir.buffers.length) {
    throw new Error(`Executor: kernel ${kernel.name} has ${kernel.bindings.length} bindings, its IR declares ${kernel.ir.buffers.length}`);
  }
  const seen = new Map<number, number>();
  kernel.bindings.forEach((id, i) => {
    const b = buffer(id, `kernel ${kernel.name} binding ${i}`);
    const ir = kernel.ir.buffers[i]!;
    if ((ir.storage ?? ir.dtype) !== b.dtype || ir.size > b.size) {
      throw new Error(`Executor: kernel ${kernel.name} binding ${i} expects ${ir.storage ?? ir.dtype}[${ir.size}], buffer ${b.name} is ${describe(b)}`);
    }
    const previous = seen.get(id);
    if (previous !== undefined && (ir.access === 'read_write' || kernel.ir.buffers[previous]!.access === 'read_write')) {
      throw new Error(`Executor: kernel ${kernel.name} binds ${b.name} at ${previous} and ${i} and writes it (aliased writable bindings)`);
    }
    seen.set(id, i);
  });
}
