// Kernel IR · the text printer: one line per instruction, indented by block,
// `v3: f32 = mul v1, v2`. Test failures and KILN_DEBUG dumps show this listing;
// the WGSL/CUDA printers (compiler/codegen) reuse its value names.

import type { Instr, Kernel, ValueId } from './ir.ts';

export function valueName(id: ValueId): string {
  return `v${id}`;
}

export function sharedName(id: ValueId): string {
  return `s${id}`;
}

/** One line of an instruction for error messages (test failures show IR, not object dumps). */
export function formatInstr(instr: Instr): string {
  const v = (id: ValueId): string => valueName(id);
  switch (instr.kind) {
    case 'const': return `${v(instr.id)}: ${instr.dtype} = const ${instr.value}`;
    case 'special': return `${v(instr.id)}: i32 = special ${instr.which}`;
    case 'alu': return `${v(instr.id)}: ${instr.dtype} = ${instr.op} ${instr.args.map(v).join(', ')}`;
    case 'cast': return `${v(instr.id)}: ${instr.dtype} = cast ${v(instr.arg)} (from ${instr.from})`;
    case 'bitcast': return `${v(instr.id)}: ${instr.dtype} = bitcast ${v(instr.arg)} (from ${instr.from})`;
    case 'load': return `${v(instr.id)}: ${instr.dtype} = load b${instr.buffer}[${v(instr.index)}]`;
    case 'store': return `store b${instr.buffer}[${v(instr.index)}] = ${v(instr.value)}`;
    case 'var': return `var ${v(instr.id)}: ${instr.dtype} = ${v(instr.init)}`;
    case 'assign': return `${v(instr.target)} := ${v(instr.value)}`;
    case 'loop': return `loop ${v(instr.id)} in [${v(instr.start)}, ${v(instr.end)}) step ${v(instr.step)}`;
    case 'endLoop': return 'endLoop';
    case 'if': return `if ${v(instr.cond)}`;
    case 'endIf': return 'endIf';
    case 'shared': return `${sharedName(instr.id)}: ${instr.dtype}[${instr.size}] = shared`;
    case 'sharedLoad': return `${v(instr.id)}: ${instr.dtype} = ${sharedName(instr.shared)}[${v(instr.index)}]`;
    case 'sharedStore': return `${sharedName(instr.shared)}[${v(instr.index)}] = ${v(instr.value)}`;
    case 'barrier': return 'barrier';
    case 'subgroupReduce': return `${v(instr.id)}: ${instr.dtype} = subgroup ${instr.op} ${v(instr.value)}`;
    case 'subgroupShuffleXor': return `${v(instr.id)}: ${instr.dtype} = subgroup shuffleXor ${v(instr.value)}, ${instr.mask}`;
    case 'mma': return `mma.m16n8k16.${instr.operand} [${instr.acc.map(v).join(', ')}] += [${instr.a.map(v).join(', ')}] · [${instr.b.map(v).join(', ')}]`;
    default: return instr satisfies never;
  }
}

/** The whole kernel as text: header, bindings, then the indented instruction list. */
export function printKernel(kernel: Kernel): string {
  const lines = [`kernel ${kernel.name} (${kernel.workgroups} workgroups of ${kernel.workgroupSize})`];
  kernel.buffers.forEach((b, i) => lines.push(`  b${i}: ${b.access} ${b.dtype}[${b.size}] ${b.name}`));
  let depth = 1;
  for (const instr of kernel.body) {
    if (instr.kind === 'endLoop' || instr.kind === 'endIf') depth--;
    lines.push(`${'  '.repeat(depth)}${formatInstr(instr)}`);
    if (instr.kind === 'loop' || instr.kind === 'if') depth++;
  }
  return lines.join('\n');
}
