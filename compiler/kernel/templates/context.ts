// Kernel IR · what a kernel template sees of the lowering in progress. A
// template (matmul, attention, …) owns the kernel's thread layout and loops; it
// reads operands through `value` (so views, casts and cheap prologues inline as
// index math), and evaluates the kernel's root for each element it produced with
// `substitute`, which makes the template's register stand for the composite's
// output inside the epilogue (bias, activation, gate, residual).

import type { Node } from '../../ir/node.ts';
import type { KernelBuilder } from '../builder.ts';
import type { Index, IndexEmitter } from '../index.ts';
import type { ValueId } from '../ir.ts';

export interface TemplateContext {
  readonly kb: KernelBuilder;
  readonly ix: IndexEmitter;
  /** The realized value the kernel writes to binding 0 (the template node itself or an epilogue over it). */
  readonly root: Node;
  /** The value of `node` at an index vector (one Index per axis of node.shape). */
  value(node: Node, idx: readonly Index[]): ValueId;
  /** Runs `body` with `node` evaluating to `value` at every index (one output element of the template). */
  substitute<T>(node: Node, value: ValueId, body: () => T): T;
  i32(value: number): ValueId;
}

/** What a template reports back: its launch shape (templates choose their own workgroup size). */
export interface TemplateLaunch {
  readonly workgroups: number;
  readonly workgroupSize: number;
}
