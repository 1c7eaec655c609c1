// Program · plain serialisable data the runtime executes: buffers with sizes and
// roles, kernels with generated source and bindings, and the ordered steps of one
// run (a forward pass or a whole training step). Nothing here refers to Graph IR
// nodes, so a Program can be written to JSON, emitted as a .ts module and loaded
// in a browser or another process.

import type { DType } from './ir/dtype.ts';
import type { ViewOp } from './ir/op.ts';
import type { Kernel } from './kernel/ir.ts';
import type { GemmCall } from './schedule/gemm.ts';

export type { GemmCall, GemmMatrix } from './schedule/gemm.ts';

export type BufferRole =
  /** Fed by the caller for each run. */
  | 'input'
  /** Persistent named state (parameters, optimiser state): kept on the device across runs. */
  | 'param'
  /** Computed by the program and readable by the caller. */
  | 'output'
  /** Intermediate values; the memory plan lets several share one buffer. */
  | 'temp';

export interface ProgramBuffer {
  readonly id: number;
  /** Graph name for inputs, params and outputs; `tN` for temps. */
  readonly name: string;
  readonly dtype: DType;
  /** Elements (a scalar is 1). */
  readonly size: number;
  readonly shape: readonly number[];
  readonly role: BufferRole;
}

export interface ProgramKernel {
  readonly name: string;
  /** Generated source for the target (WGSL for 'webgpu', CUDA C++ for 'cuda'). */
  readonly source: string;
  readonly entryPoint: string;
  /** Program buffer ids, in binding order (binding i ↔ bindings[i]). */
  readonly bindings: readonly number[];
  readonly workgroupSize: number;
  /** Grid in workgroups, already folded to the target's per-dimension limit. */
  readonly grid: readonly [number, number, number];
  /** The Kernel IR the source was printed from (kept for KILN_DEBUG dumps and tests). */
  readonly ir: Kernel;
  /** Set on template kernels autotune can retile (see compile's tunedTiles). */
  readonly tuneKey?: string;
  /**
   * CUDA programs: the kernel as PTX, a module holding this one entry (added Node-side by
   * compiler/codegen/ptx.ts withPtx, so a GPU machine needs only the driver).
   */
  readonly ptx?: string;
  /**
   * CUDA programs compiled with gemm 'library': the kernel is a plain GEMM a device may run through its BLAS
   * library (cuBLASLt) instead of the generated source, which computes the same values.
   */
  readonly gemm?: GemmCall;
}

/** One Graph IR view op (reshape, permute, shrink, flip, expand, pad) as plain data. */
export interface OutputView {
  readonly op: ViewOp;
  /** The shape after this view. */
  readonly shape: readonly number[];
  readonly arg: unknown;
}

export type ProgramStep =
  | { readonly kind: 'dispatch'; readonly kernel: number }
  /** Copies a computed value into a param buffer at the end of a run (the assign op's in-place update). */
  | { readonly kind: 'copy'; readonly from: number; readonly to: number };

export interface Program {
  readonly target: 'webgpu' | 'cuda';
  readonly buffers: readonly ProgramBuffer[];
  readonly kernels: readonly ProgramKernel[];
  readonly steps: readonly ProgramStep[];
  /** Graph output name → buffer id. */
  readonly outputs: Readonly<Record<string, number>>;
  /** Outputs that are views of their buffer: the view ops to apply, buffer side first, when reading them. */
  readonly outputViews?: Readonly<Record<string, readonly OutputView[]>>;
  /** Graph input name → buffer id. */
  readonly inputs: Readonly<Record<string, number>>;
  /** Param name → buffer id. */
  readonly params: Readonly<Record<string, number>>;
}
