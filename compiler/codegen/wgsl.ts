// Codegen · the WGSL printer. In: one Kernel (Kernel IR) and the grid it will be
// dispatched with (its linear workgroup count folded to the device's limit). Out:
// a complete WGSL module with entry point `main`, every binding a storage buffer.
// Graph IR semantics that WGSL does not give for free are spelled out here:
// integer division and remainder by zero are 0, shift amounts are masked to 5
// bits, float→int casts saturate to the int range's ends (and map NaN to 0),
// bools live in buffers as u32 words, and erf is a polynomial helper. Literals
// print so that Tint reads back exactly the value the IR holds. f16 values add
// `enable f16;` (the device needs 'shader-f16'); subgroup ops add `enable
// subgroups;` and read the subgroup builtins, including `subgroup_id` and
// `num_subgroups` (the WGSL language feature `subgroup_id`, which Dawn has).
// The subgroup size is whatever the driver picks (lavapipe: 8); the IR never assumes one.

import { DType, isFloat, isInt } from '../ir/dtype.ts';
import { Alu, type Kernel, type KernelBuffer, type Special } from '../kernel/ir.ts';
import { walk, workgroupPrologue, type Dialect } from './c-walker.ts';
import { F16_FORMAT, F32_FORMAT, roundToFormat, shortestDecimal, type FloatFormat } from './literal.ts';

export interface WgslOptions {
  /** Workgroups per dispatch dimension; x·y·z ≥ kernel.workgroups (extra workgroups exit at once). */
  readonly grid: readonly [number, number, number];
}

const INT32_MIN = -2147483648;

function unsupported(what: string): never {
  throw new Error(`${what}: bf16 is not supported on WebGPU; cast to f32 in the graph (or use the cuda target)`);
}

function typeName(dtype: DType, what = 'value'): string {
  switch (dtype) {
    case DType.F32: return 'f32';
    case DType.F16: return 'f16';
    case DType.I32: return 'i32';
    case DType.U32: return 'u32';
    case DType.Bool: return 'bool';
    case DType.BF16: return unsupported(what);
    default: return dtype satisfies never;
  }
}

/** Element type of a storage buffer: bool has no host-shareable layout, so it is one u32 word per element. */
function storageType(kernel: Kernel, buffer: KernelBuffer, binding: number): string {
  return buffer.dtype === DType.Bool ? 'u32' : typeName(buffer.dtype, `printWgsl(${kernel.name}): buffer ${binding} (${buffer.name})`);
}

function floatLiteral(value: number, format: FloatFormat, suffix: string): string {
  const rounded = roundToFormat(value, format);
  if (!Number.isFinite(rounded)) {
    throw new Error(`constant ${value} is not a finite ${format.name} (kiln never relies on Inf/NaN; clamp to ±${format.max})`);
  }
  // A literal -0.0f reaches the device as +0 (Dawn + lavapipe drop the sign); the bit pattern keeps it.
  if (Object.is(rounded, -0)) return format === F32_FORMAT ? 'bitcast<f32>(0x80000000u)' : 'f16(bitcast<f32>(0x80000000u))';
  // Tint does not round f16 literals to nearest (65500h reads as 65472, not 65504), so f16
  // values print as their exact decimal expansion (≤ 24 fractional digits): nothing to round.
  if (format === F16_FORMAT) return exactDecimal(rounded) + suffix;
  return shortestDecimal(rounded, format) + suffix;
}

/** The exact decimal of a dyadic value with at most 24 fractional bits (every f16). */
function exactDecimal(value: number): string {
  const fixed = value.toFixed(24).replace(/0+$/, '');
  return fixed.endsWith('.') ? `${fixed}0` : fixed;
}

function literal(dtype: DType, value: number): string {
  switch (dtype) {
    case DType.F32: return floatLiteral(value, F32_FORMAT, 'f');
    case DType.F16: return floatLiteral(value, F16_FORMAT, 'h');
    case DType.I32: {
      // Same wrap-around as the interpreter's i32 normaliser.
      const v = value | 0;
      // 2147483648i is out of range, so the most negative i32 is built from one that is not.
      return v === INT32_MIN ? 'i32(-2147483647 - 1)' : `${v}i`;
    }
    case DType.U32: return `${value >>> 0}u`;
    case DType.Bool: return value !== 0 ? 'true' : 'false';
    case DType.BF16: return unsupported(`constant ${value}`);
    default: return dtype satisfies never;
  }
}

function requireFloat(op: Alu, dtype: DType): void {
  if (!isFloat(dtype)) throw new Error(`${op} needs a float operand, got ${dtype}`);
}

function requireNumber(op: Alu, dtype: DType): void {
  if (dtype === DType.Bool) throw new Error(`${op} is not defined on bool`);
}

/** Shift amount as WGSL wants it (u32), masked to 0‥31 like the interpreter's `b & 31`. */
function shiftAmount(arg: string, dtype: DType): string {
  return dtype === DType.U32 ? `(${arg} & 31u)` : `(u32(${arg}) & 31u)`;
}

function alu(op: Alu, dtype: DType, args: readonly string[], types: readonly DType[]): string {
  const [a = '', b = '', c = ''] = args;
  const operand = (op === Alu.Select ? types[1] : types[0]) ?? dtype;
  const zero = (): string => literal(operand, 0);
  switch (op) {
    case Alu.Add: requireNumber(op, operand); return `${a} + ${b}`;
    case Alu.Sub: requireNumber(op, operand); return `${a} - ${b}`;
    case Alu.Mul: requireNumber(op, operand); return `${a} * ${b}`;
    case Alu.Div:
      requireNumber(op, operand);
      // WGSL gives a for a / 0; Graph IR defines 0.
      return isInt(operand) ? `select(${a} / ${b}, ${zero()}, ${b} == ${zero()})` : `${a} / ${b}`;
    case Alu.Mod:
      requireNumber(op, operand);
      // Truncated remainder (the dividend's sign) is WGSL's `%` for ints and floats; x % 0 is 0 for ints.
      return isInt(operand) ? `select(${a} % ${b}, ${zero()}, ${b} == ${zero()})` : `${a} % ${b}`;
    case Alu.Max: requireNumber(op, operand); return `max(${a}, ${b})`;
    case Alu.Min: requireNumber(op, operand); return `min(${a}, ${b})`;
    case Alu.CmpLt: requireNumber(op, operand); return `${a} < ${b}`;
    case Alu.CmpNe: return `${a} != ${b}`;
    case Alu.CmpEq: return `${a} == ${b}`;
    case Alu.And:
    case Alu.Or:
    case Alu.Xor:
      if (isFloat(operand)) throw new Error(`${op} needs integer or bool operands, got ${operand}`);
      if (op === Alu.Xor) return operand === DType.Bool ? `${a} != ${b}` : `${a} ^ ${b}`;
      return `${a} ${op === Alu.And ? '&' : '|'} ${b}`;
    case Alu.Shl:
    case Alu.Shr:
      if (!isInt(operand)) throw new Error(`${op} needs integer operands, got ${operand}`);
      // >> is arithmetic on i32 and logical on u32, as in the interpreter.
      return `${a} ${op === Alu.Shl ? '<<' : '>>'} ${shiftAmount(b, types[1] ?? operand)}`;
    case Alu.Neg:
      requireNumber(op, operand);
      return operand === DType.U32 ? `0u - ${a}` : `-${a}`;
    case Alu.Not:
      if (isFloat(operand)) throw new Error(`not needs an integer or bool operand, got ${operand}`);
      return operand === DType.Bool ? `!${a}` : `~${a}`;
    case Alu.Recip: requireFloat(op, operand); return `${literal(operand, 1)} / ${a}`;
    case Alu.Sqrt: requireFloat(op, operand); return `sqrt(${a})`;
    case Alu.Exp2: requireFloat(op, operand); return `exp2(${a})`;
    case Alu.Log2: requireFloat(op, operand); return `log2(${a})`;
    case Alu.Sin: requireFloat(op, operand); return `sin(${a})`;
    case Alu.Trunc: requireFloat(op, operand); return `trunc(${a})`;
    case Alu.Erf:
      requireFloat(op, operand);
      return operand === DType.F32 ? `kiln_erf(${a})` : `${typeName(operand)}(kiln_erf(f32(${a})))`;
    case Alu.Select:
      // WGSL's select is (false value, true value, condition).
      return `select(${c}, ${b}, ${a})`;
    default:
      return op satisfies never;
  }
}

function cast(to: DType, from: DType, arg: string): string {
  if (to === DType.BF16 || from === DType.BF16) return unsupported(`cast ${from} → ${to}`);
  if (to === from) return arg;
  // For floats, !(x == 0) rather than x != 0: lavapipe's != is an ordered compare, false for NaN, which the interpreter calls true.
  if (to === DType.Bool) return isFloat(from) ? `!(${arg} == ${literal(from, 0)})` : `${arg} != ${literal(from, 0)}`;
  if (isInt(to) && isFloat(from)) {
    // WGSL truncates and clamps to the largest float below the int range (i32: 2147483520); the
    // interpreter saturates to the int maximum, so values at or past 2³¹ (2³² for u32) select it.
    // NaN (the only x with x != x) becomes 0.
    const converted = `select(${literal(to, 0)}, ${typeName(to)}(${arg}), ${arg} == ${arg})`;
    if (from !== DType.F32) return converted;
    const limit = to === DType.I32 ? 2 ** 31 : 2 ** 32;
    return `select(${converted}, ${literal(to, limit - 1)}, ${arg} >= ${literal(from, limit)})`;
  }
  // The remaining conversions are WGSL's: bool → 0/1, int → float rounds, i32 ↔ u32 reinterprets (wraps), f16 ↔ f32.
  return `${typeName(to)}(${arg})`;
}

function bitcast(to: DType, from: DType, arg: string): string {
  if (to === DType.BF16 || from === DType.BF16) return unsupported(`bitcast ${from} → ${to}`);
  if (to === DType.Bool || from === DType.Bool) throw new Error(`cannot bitcast ${from} to ${to}`);
  if (to === from) return arg;
  if (to === DType.F16 || from === DType.F16) throw new Error(`cannot bitcast ${from} to ${to} (sizes differ)`);
  return `bitcast<${typeName(to)}>(${arg})`;
}

/** The linear workgroup index (u32) computed once at the top of `main`. */
const WORKGROUP = 'kiln_wg';

function wgslDialect(workgroupSize: number): Dialect {
  return {
    typeName: (dtype) => typeName(dtype),
    literal,
    special(which: Special): string {
      switch (which) {
        case 'workgroupId': return `i32(${WORKGROUP})`;
        case 'localId': return 'i32(lid.x)';
        case 'globalId': return `i32(${WORKGROUP} * ${workgroupSize}u + lid.x)`;
        case 'subgroupId':
        case 'subgroupLane':
        case 'subgroupSize':
        case 'subgroupCount':
          return `i32(${SUBGROUP_BUILTINS[which].name})`;
        default: return which satisfies never;
      }
    },
    alu,
    cast,
    bitcast,
    load: (binding, buffer, _dtype, index) => (buffer.dtype === DType.Bool ? `b${binding}[${index}] != 0u` : `b${binding}[${index}]`),
    store: (binding, buffer, _dtype, index, value) =>
      buffer.dtype === DType.Bool ? `b${binding}[${index}] = select(0u, 1u, ${value});` : `b${binding}[${index}] = ${value};`,
    define: (name, dtype, expression) => `let ${name}: ${typeName(dtype)} = ${expression};`,
    declareVar: (name, dtype, init) => `var ${name}: ${typeName(dtype)} = ${init};`,
    assign: (name, value) => `${name} = ${value};`,
    loopOpen: (name, start, end, step) => `for (var ${name}: i32 = ${start}; ${name} < ${end}; ${name} = ${name} + ${step}) {`,
    ifOpen: (cond) => `if (${cond}) {`,
    blockClose: () => '}',
    sharedScope: 'module',
    sharedDeclare: (name, dtype, size) => `var<workgroup> ${name}: array<${typeName(dtype, `shared array ${name}`)}, ${size}>;`,
    sharedLoad: (name, _dtype, index) => `${name}[${index}]`,
    sharedStore: (name, _dtype, index, value) => `${name}[${index}] = ${value};`,
    barrier: () => 'workgroupBarrier();',
    subgroupReduce(op, dtype, value) {
      typeName(dtype, `subgroup ${op}`);
      return op === Alu.Add ? `subgroupAdd(${value})` : `subgroupMax(${value})`;
    },
    subgroupShuffleXor(dtype, value, mask) {
      typeName(dtype, 'subgroup shuffleXor');
      return `subgroupShuffleXor(${value}, ${mask}u)`;
    },
    mma() {
      // WebGPU has no tensor-core ops (its subgroup-matrix proposal is not in Dawn's core); lowering only emits mma for CUDA.
      throw new Error('mma (tensor-core product) has no WGSL form; compile for target cuda, or without the mma feature');
    },
  };
}

/** Entry-point parameters for the subgroup specials (all u32 builtins). */
const SUBGROUP_BUILTINS: Record<'subgroupId' | 'subgroupLane' | 'subgroupSize' | 'subgroupCount', { name: string; builtin: string }> = {
  subgroupId: { name: 'sg_id', builtin: 'subgroup_id' },
  subgroupLane: { name: 'sg_lane', builtin: 'subgroup_invocation_id' },
  subgroupSize: { name: 'sg_size', builtin: 'subgroup_size' },
  subgroupCount: { name: 'sg_count', builtin: 'num_subgroups' },
};

// erf coefficients, fitted for f32 evaluation with fma (max abs error ≈ 6e-8 in
// simulation; the test holds the device to 3e-7 against runtime/cpu/numeric.ts).
// |x| < 1: erf(x) = x + x·P(x²). 1 ≤ |x|: erf = 1 − exp(R(u) − t²), t = min(|x|, 4),
// u = (t − 2.5)/1.5, R ≈ log erfc(t) + t² (erf rounds to 1 in f32 beyond 3.92).
const ERF_SMALL = ['0.128379151', '-0.376126051', '0.112834193', '-0.0268482082', '0.00517909788', '-0.000793708605', '0.0000763079006'];
const ERF_LARGE = [
  '-1.55681539', '-0.529020607', '0.126249537', '-0.0366056412', '0.0109814685',
  '-0.00341257174', '0.000301432330', '-0.000857056992', '-0.000284508569', '-0.0000660055521',
];

function horner(coefficients: readonly string[], variable: string): string[] {
  const [last, ...rest] = [...coefficients].reverse();
  return [`  var r: f32 = ${last}f;`, ...rest.map((k) => `  r = fma(r, ${variable}, ${k}f);`)];
}

const ERF_HELPER = [
  '// erf for f32 (WGSL has no builtin): polynomial fits, absolute error below 2e-7.',
  'fn kiln_erf(x: f32) -> f32 {',
  '  let t = abs(x);',
  '  if (t < 1.0f) {',
  '    let s = x * x;',
  ...horner(ERF_SMALL, 's').map((line) => `  ${line}`),
  '    return fma(r, x, x);',
  '  }',
  '  let c = min(t, 4.0f);',
  '  let u = (c - 2.5f) * 0.666666687f;',
  ...horner(ERF_LARGE, 'u'),
  '  let e = exp(fma(-c, c, r));',
  '  return select(e - 1.0f, 1.0f - e, x > 0.0f);',
  '}',
];

/** Printable for a one-line comment: names come from user graphs. */
function commentText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function checkGrid(kernel: Kernel, grid: readonly [number, number, number]): number {
  for (const d of grid) {
    if (!Number.isInteger(d) || d < 1) throw new Error(`printWgsl(${kernel.name}): grid [${grid.join(', ')}] needs positive integers`);
  }
  const total = grid[0] * grid[1] * grid[2];
  if (total < kernel.workgroups) {
    throw new Error(`printWgsl(${kernel.name}): grid [${grid.join(', ')}] has ${total} workgroups, the kernel needs ${kernel.workgroups}`);
  }
  if (kernel.workgroups > 2 ** 31 - 1) throw new Error(`printWgsl(${kernel.name}): ${kernel.workgroups} workgroups overflow an i32 id`);
  return total;
}

/** Prints `kernel` as a WGSL module with entry point `main`, for dispatch as `grid` workgroups. */
export function printWgsl(kernel: Kernel, options: WgslOptions): string {
  const { grid } = options;
  checkGrid(kernel, grid);
  if (!Number.isInteger(kernel.workgroupSize) || kernel.workgroupSize < 1) {
    throw new Error(`printWgsl(${kernel.name}): workgroup size ${kernel.workgroupSize} is not a positive integer`);
  }
  const bindings = kernel.buffers.map((buffer, i) => {
    if (buffer.storage) throw new Error(`printWgsl(${kernel.name}): binding ${i} (${buffer.name}) is stored as ${buffer.storage}, which WGSL has no type for; narrowed activation storage is CUDA's policy`);
    const access = buffer.access === 'read' ? 'read' : 'read_write';
    return `@group(0) @binding(${i}) var<storage, ${access}> b${i}: array<${storageType(kernel, buffer, i)}>; // ${commentText(buffer.name)}: ${buffer.dtype}[${buffer.size}]`;
  });
  const body = walk(kernel, wgslDialect(kernel.workgroupSize), { indent: '  ', depth: 1 });
  const usesWorkgroup = body.specials.has('workgroupId') || body.specials.has('globalId');
  const prologue = workgroupPrologue(kernel, grid, usesWorkgroup, ['wid.x', 'wid.y', 'wid.z'], (e) => `let ${WORKGROUP}: u32 = ${e};`, WORKGROUP);
  const parameters = ['@builtin(workgroup_id) wid: vec3<u32>', '@builtin(local_invocation_id) lid: vec3<u32>'];
  for (const [which, { name, builtin }] of Object.entries(SUBGROUP_BUILTINS)) {
    if (body.specials.has(which as Special)) parameters.push(`@builtin(${builtin}) ${name}: u32`);
  }
  const sections: string[][] = [
    [`// kiln kernel ${commentText(kernel.name)}: ${kernel.workgroups} workgroups of ${kernel.workgroupSize}, grid ${grid.join('x')}`],
  ];
  const enables = [...(body.dtypes.has(DType.F16) ? ['enable f16;'] : []), ...(body.usesSubgroups ? ['enable subgroups;'] : [])];
  if (enables.length > 0) sections.push(enables);
  sections.push(bindings);
  if (body.moduleLines.length > 0) sections.push([...body.moduleLines]);
  if (body.ops.has(Alu.Erf)) sections.push(ERF_HELPER);
  sections.push([
    `@compute @workgroup_size(${kernel.workgroupSize})`,
    `fn main(${parameters.join(', ')}) {`,
    ...prologue,
    ...body.lines,
    '}',
  ]);
  return sections.filter((s) => s.length > 0).map((s) => s.join('\n')).join('\n\n') + '\n';
}
