// Test support · kernel-count assertions (DESIGN.md "Kernel-count targets"): a
// graph compiles to exactly n kernels; on failure the schedule and the graph print.

import { expect } from 'vitest';
import { compile, type TargetLimits } from '../../compiler/compile.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { printSchedule } from '../../compiler/schedule/schedule.ts';

export function kernelCount(graph: Graph, limits?: TargetLimits): number {
  return compile(graph, limits ? { limits } : {}).program.kernels.length;
}

export function expectKernels(graph: Graph, n: number, limits?: TargetLimits): void {
  const { program, schedule } = compile(graph, limits ? { limits } : {});
  expect(program.kernels.length, `expected ${n} kernels, got ${program.kernels.length}\n${printSchedule(schedule)}\n${schedule.graph.toString()}`).toBe(n);
}
