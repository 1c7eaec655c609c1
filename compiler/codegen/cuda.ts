// Codegen · the CUDA C++ printer. In: one Kernel (Kernel IR) and the grid it will
// be launched with (its linear block count folded to the target's limit). Out: a
// self-contained CUDA C++ translation unit holding one
// `extern "C" __global__ void __launch_bounds__(wg) <entry>(…)` whose parameters
// are the kernel's bindings in order, as `T* __restrict__` (read-only ones
// `const`). Several kernels' sources concatenate into one valid .cu (the only
// module-level lines are header includes), which is how compiler/codegen/ptx.ts
// batches a whole program into one nvcc run.
//
// Buffers mean the same bytes as on WebGPU (runtime/device.ts encodeValues):
// f32/i32/u32 as themselves, bool as one u32 word per element, f16 and bf16 as
// 16-bit storage (`__half`, `__nv_bfloat16`). f16/bf16 values are computed in
// f32 and rounded back to their type after every operation, which is exactly the
// interpreter's `precision: 'f32'` rounding (f32 carries more than twice the bits,
// so the double rounding is innocuous). Graph IR semantics that C++ leaves
// undefined are spelled out: i32 add/sub/mul/neg/shl wrap (computed in unsigned),
// integer division and remainder by zero are 0 (and INT_MIN / -1 wraps), shift
// amounts are masked to 0‥31, float→int casts truncate and saturate with NaN → 0
// (PTX cvt.rzi semantics, via __float2int_rz), int→float rounds to nearest.
// Tensor-core products (`mma`) are inline PTX `mma.sync.aligned.m16n8k16` with
// operands packed to bf16x2/f16x2 (round to nearest even); a buffer whose
// `storage` is bf16 holds f32 values as bf16, converted on every load and store.

import { DType, isFloat, isInt } from '../ir/dtype.ts';
import { Alu, type Instr, type Kernel, type KernelBuffer, type MmaOperand, type Special, type SubgroupOp, type ValueId } from '../kernel/ir.ts';
import { valueName, walk, workgroupPrologue, type Dialect } from './c-walker.ts';
import { F16_FORMAT, F32_FORMAT, roundToFormat, shortestDecimal, type FloatFormat } from './literal.ts';

export interface CudaOptions {
  /** Blocks per launch dimension; x·y·z ≥ kernel.workgroups (extra blocks exit at once). */
  readonly grid: readonly [number, number, number];
}

/** bfloat16: f32's exponent range with an 8-bit significand. */
const BF16_FORMAT: FloatFormat = { name: 'bf16', precision: 8, minExponent: -126, max: 3.3895313892515355e38 };

/** CUDA's warp: the subgroup of the Kernel IR's subgroup capability. */
const WARP = 32;

const INT32_MIN = -2147483648;

/** The function name a kernel gets: its name as a C identifier (kernel names are unique within a program). */
export function cudaEntryName(kernel: Pick<Kernel, 'name'>): string {
  const name = kernel.name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(name) ? name : `k_${name}`;
}

function typeName(dtype: DType): string {
  switch (dtype) {
    case DType.F32: return 'float';
    case DType.F16: return '__half';
    case DType.BF16: return '__nv_bfloat16';
    case DType.I32: return 'int';
    case DType.U32: return 'unsigned int';
    case DType.Bool: return 'bool';
    default: return dtype satisfies never;
  }
}

/** Element type in a buffer: bool has no fixed-size layout shared with the host, so it is one u32 word (as on WebGPU). */
function storageType(dtype: DType): string {
  return dtype === DType.Bool ? 'unsigned int' : typeName(dtype);
}

/** `expr` (a value of float dtype) as an f32 expression. */
function toF32(dtype: DType, expr: string): string {
  switch (dtype) {
    case DType.F16: return `__half2float(${expr})`;
    case DType.BF16: return `__bfloat162float(${expr})`;
    default: return expr;
  }
}

/** An f32 expression rounded to nearest-even into `dtype`. */
function fromF32(dtype: DType, expr: string): string {
  switch (dtype) {
    case DType.F16: return `__float2half_rn(${expr})`;
    case DType.BF16: return `__float2bfloat16_rn(${expr})`;
    default: return expr;
  }
}

function formatOf(dtype: DType): FloatFormat {
  return dtype === DType.F16 ? F16_FORMAT : dtype === DType.BF16 ? BF16_FORMAT : F32_FORMAT;
}

/** An f32 literal C++ reads back as exactly `value` (which must be an f32 value): always with a point or exponent before the `f`. */
function f32Literal(value: number): string {
  const text = shortestDecimal(value, F32_FORMAT);
  return `${/[.e]/.test(text) ? text : `${text}.0`}f`;
}

function literal(dtype: DType, value: number): string {
  switch (dtype) {
    case DType.F32:
    case DType.F16:
    case DType.BF16: {
      const format = formatOf(dtype);
      const rounded = roundToFormat(value, format);
      if (!Number.isFinite(rounded)) {
        throw new Error(`constant ${value} is not a finite ${format.name} (kiln never relies on Inf/NaN; clamp to ±${format.max})`);
      }
      // Every f16 and bf16 value is an f32 value, so the conversion below is exact.
      return fromF32(dtype, f32Literal(rounded));
    }
    case DType.I32: {
      const v = value | 0;
      // 2147483648 is out of int's range, so the most negative int is built from one that is not.
      return v === INT32_MIN ? '(-2147483647 - 1)' : `${v}`;
    }
    case DType.U32: return `${value >>> 0}u`;
    case DType.Bool: return value !== 0 ? 'true' : 'false';
    default: return dtype satisfies never;
  }
}

function requireFloat(op: Alu, dtype: DType): void {
  if (!isFloat(dtype)) throw new Error(`${op} needs a float operand, got ${dtype}`);
}

function requireNumber(op: Alu, dtype: DType): void {
  if (dtype === DType.Bool) throw new Error(`${op} is not defined on bool`);
}

/** i32 arithmetic in unsigned, where overflow wraps (signed overflow is undefined in C++). */
function wrapI32(a: string, operator: string, b: string): string {
  return `(int)((unsigned int)${a} ${operator} (unsigned int)${b})`;
}

function floatAlu(op: Alu, dtype: DType, operand: DType, a: string, b: string): string {
  const x = toF32(operand, a);
  const y = toF32(operand, b);
  const value = (expr: string): string => fromF32(dtype, expr);
  switch (op) {
    case Alu.Add: return value(`${x} + ${y}`);
    case Alu.Sub: return value(`${x} - ${y}`);
    case Alu.Mul: return value(`${x} * ${y}`);
    case Alu.Div: return value(`${x} / ${y}`);
    // fmodf is the exact truncated remainder (the dividend's sign), the interpreter's `%`.
    case Alu.Mod: return value(`fmodf(${x}, ${y})`);
    case Alu.Max: return value(`fmaxf(${x}, ${y})`);
    case Alu.Min: return value(`fminf(${x}, ${y})`);
    case Alu.CmpLt: return `${x} < ${y}`;
    case Alu.CmpNe: return `${x} != ${y}`;
    case Alu.CmpEq: return `${x} == ${y}`;
    case Alu.Neg: return value(`-${x}`);
    case Alu.Recip: return value(`1.0f / ${x}`);
    case Alu.Sqrt: return value(`sqrtf(${x})`);
    case Alu.Exp2: return value(`exp2f(${x})`);
    case Alu.Log2: return value(`log2f(${x})`);
    case Alu.Sin: return value(`sinf(${x})`);
    case Alu.Trunc: return value(`truncf(${x})`);
    case Alu.Erf: return value(`erff(${x})`);
    default: throw new Error(`${op} needs integer or bool operands, got ${operand}`);
  }
}

function intAlu(op: Alu, operand: DType.I32 | DType.U32, a: string, b: string, shiftType: DType): string {
  const signed = operand === DType.I32;
  const amount = `(${b} & ${shiftType === DType.U32 ? '31u' : '31'})`;
  switch (op) {
    case Alu.Add: return signed ? wrapI32(a, '+', b) : `${a} + ${b}`;
    case Alu.Sub: return signed ? wrapI32(a, '-', b) : `${a} - ${b}`;
    case Alu.Mul: return signed ? wrapI32(a, '*', b) : `${a} * ${b}`;
    // x / 0 is 0 (Graph IR); INT_MIN / -1 overflows in C++ (a trap on some hardware), the interpreter wraps to INT_MIN.
    case Alu.Div:
      return signed
        ? `(${b} == 0 ? 0 : ${b} == -1 ? ${wrapI32('0', '-', a)} : ${a} / ${b})`
        : `(${b} == 0u ? 0u : ${a} / ${b})`;
    // C's % truncates (the dividend's sign); x % 0 and x % -1 are 0.
    case Alu.Mod: return signed ? `(${b} == 0 || ${b} == -1 ? 0 : ${a} % ${b})` : `(${b} == 0u ? 0u : ${a} % ${b})`;
    case Alu.Max: return `max(${a}, ${b})`;
    case Alu.Min: return `min(${a}, ${b})`;
    case Alu.CmpLt: return `${a} < ${b}`;
    case Alu.CmpNe: return `${a} != ${b}`;
    case Alu.CmpEq: return `${a} == ${b}`;
    case Alu.And: return `${a} & ${b}`;
    case Alu.Or: return `${a} | ${b}`;
    case Alu.Xor: return `${a} ^ ${b}`;
    // Left shifts of negative ints are undefined in C++17: shift the bits as unsigned.
    case Alu.Shl: return signed ? `(int)((unsigned int)${a} << ${amount})` : `${a} << ${amount}`;
    // >> is arithmetic on int and logical on unsigned, as in the interpreter.
    case Alu.Shr: return `${a} >> ${amount}`;
    case Alu.Neg: return signed ? wrapI32('0', '-', a) : `0u - ${a}`;
    case Alu.Not: return `~${a}`;
    default: throw new Error(`${op} needs a float operand, got ${operand}`);
  }
}

function boolAlu(op: Alu, a: string, b: string): string {
  switch (op) {
    case Alu.And: return `${a} && ${b}`;
    case Alu.Or: return `${a} || ${b}`;
    case Alu.Xor:
    case Alu.CmpNe: return `${a} != ${b}`;
    case Alu.CmpEq: return `${a} == ${b}`;
    case Alu.Not: return `!${a}`;
    default: throw new Error(`${op} is not defined on bool`);
  }
}

function alu(op: Alu, dtype: DType, args: readonly string[], types: readonly DType[]): string {
  const [a = '', b = '', c = ''] = args;
  // Select's condition is operand 0; it takes its type from the values.
  if (op === Alu.Select) return `${a} ? ${b} : ${c}`;
  const operand = types[0] ?? dtype;
  switch (op) {
    case Alu.Recip: case Alu.Sqrt: case Alu.Exp2: case Alu.Log2: case Alu.Sin: case Alu.Trunc: case Alu.Erf:
      requireFloat(op, operand);
      break;
    case Alu.Add: case Alu.Sub: case Alu.Mul: case Alu.Div: case Alu.Mod: case Alu.Max: case Alu.Min: case Alu.CmpLt: case Alu.Neg:
      requireNumber(op, operand);
      break;
    case Alu.Shl: case Alu.Shr:
      if (!isInt(operand)) throw new Error(`${op} needs integer operands, got ${operand}`);
      break;
    case Alu.And: case Alu.Or: case Alu.Xor: case Alu.Not:
      if (isFloat(operand)) throw new Error(`${op} needs integer or bool operands, got ${operand}`);
      break;
    case Alu.CmpNe: case Alu.CmpEq:
      break;
    default:
      return op satisfies never;
  }
  if (isFloat(operand)) return floatAlu(op, dtype, operand, a, b);
  if (operand === DType.Bool) return boolAlu(op, a, b);
  return intAlu(op, operand as DType.I32 | DType.U32, a, b, types[1] ?? operand);
}

function cast(to: DType, from: DType, arg: string): string {
  if (to === from) return arg;
  if (to === DType.Bool) {
    // !(x == 0) rather than x != 0 keeps NaN true, as the interpreter has it.
    return isFloat(from) ? `!(${toF32(from, arg)} == 0.0f)` : `${arg} != ${literal(from, 0)}`;
  }
  if (from === DType.Bool) return `${arg} ? ${literal(to, 1)} : ${literal(to, 0)}`;
  if (isInt(to) && isInt(from)) return `(${typeName(to)})${arg}`;
  if (isInt(to)) {
    // cvt.rzi: truncate, saturate to the int range, NaN → 0 (the interpreter's castValue).
    return `${to === DType.I32 ? '__float2int_rz' : '__float2uint_rz'}(${toF32(from, arg)})`;
  }
  if (isInt(from)) {
    // One rounding straight into the target type (int → f32 → f16 could round twice).
    const signed = from === DType.I32;
    switch (to) {
      case DType.F32: return `${signed ? '__int2float_rn' : '__uint2float_rn'}(${arg})`;
      case DType.F16: return `${signed ? '__int2half_rn' : '__uint2half_rn'}(${arg})`;
      case DType.BF16: return `${signed ? '__int2bfloat16_rn' : '__uint2bfloat16_rn'}(${arg})`;
      default: throw new Error(`cast ${from} → ${to}`);
    }
  }
  // float → float: widening to f32 is exact, so this is one rounding into `to`.
  return fromF32(to, toF32(from, arg));
}

function bitcast(to: DType, from: DType, arg: string): string {
  if (to === DType.Bool || from === DType.Bool) throw new Error(`cannot bitcast ${from} to ${to}`);
  if (to === from) return arg;
  const key = `${from}>${to}`;
  switch (key) {
    case 'f32>i32': return `__float_as_int(${arg})`;
    case 'f32>u32': return `__float_as_uint(${arg})`;
    case 'i32>f32': return `__int_as_float(${arg})`;
    case 'u32>f32': return `__uint_as_float(${arg})`;
    case 'i32>u32': return `(unsigned int)${arg}`;
    case 'u32>i32': return `(int)${arg}`;
    case 'f16>bf16': return `__ushort_as_bfloat16(__half_as_ushort(${arg}))`;
    case 'bf16>f16': return `__ushort_as_half(__bfloat16_as_ushort(${arg}))`;
    default: throw new Error(`cannot bitcast ${from} to ${to} (sizes differ)`);
  }
}

/** The linear block index, computed once at the top of the kernel. */
const WORKGROUP = 'kiln_wg';

/** Warp-wide reduction helpers (the subgroup capability): the butterfly gives every lane the result. */
function subgroupHelper(op: SubgroupOp, dtype: DType, workgroupSize: number): string[] {
  const name = subgroupHelperName(op, dtype);
  const t = typeName(dtype);
  const f32 = isFloat(dtype);
  const register = f32 ? 'float' : t;
  const combine = op === Alu.Add
    ? (dtype === DType.I32 ? wrapI32('x', '+', 'y') : 'x + y')
    : (f32 ? 'fmaxf(x, y)' : 'max(x, y)');
  const lines = [
    `static __device__ __forceinline__ ${t} ${name}(${t} value) {`,
    `  ${register} x = ${toF32(dtype, 'value')};`,
  ];
  if (workgroupSize % WARP === 0) {
    lines.push(
      `  for (int offset = ${WARP / 2}; offset > 0; offset >>= 1) {`,
      `    const ${register} y = __shfl_xor_sync(0xffffffffu, x, offset);`,
      `    x = ${combine};`,
      '  }',
    );
  } else {
    // The block's last warp is partial: fold down onto lane 0 over the lanes that exist, then broadcast.
    lines.push(
      `  const int lanes = min(${WARP}, ${workgroupSize} - (int)(threadIdx.x / ${WARP}u) * ${WARP});`,
      `  const unsigned int mask = lanes == ${WARP} ? 0xffffffffu : (1u << lanes) - 1u;`,
      `  const int lane = (int)(threadIdx.x % ${WARP}u);`,
      `  for (int offset = ${WARP / 2}; offset > 0; offset >>= 1) {`,
      `    const ${register} y = __shfl_down_sync(mask, x, offset);`,
      `    if (lane + offset < lanes) x = ${combine};`,
      '  }',
      '  x = __shfl_sync(mask, x, 0);',
    );
  }
  lines.push(`  return ${fromF32(dtype, 'x')};`, '}');
  return lines;
}

function subgroupHelperName(op: SubgroupOp, dtype: DType): string {
  return `kiln_warp_${op}_${dtype}`;
}

/** Every value some instruction reads: the others get [[maybe_unused]] (nvcc warns on unused locals, and kiln requires zero warnings). */
function readValues(body: readonly Instr[]): Set<ValueId> {
  const read = new Set<ValueId>();
  const use = (...ids: ValueId[]): void => ids.forEach((id) => read.add(id));
  for (const instr of body) {
    switch (instr.kind) {
      case 'const': case 'special': case 'shared': case 'barrier': case 'endLoop': case 'endIf': break;
      case 'alu': use(...instr.args); break;
      case 'cast': case 'bitcast': use(instr.arg); break;
      case 'load': use(instr.index); break;
      case 'store': use(instr.index, instr.value); break;
      case 'var': use(instr.init); break;
      case 'assign': use(instr.target, instr.value); break;
      case 'loop': use(instr.start, instr.end, instr.step); break;
      case 'if': use(instr.cond); break;
      case 'sharedLoad': use(instr.shared, instr.index); break;
      case 'sharedStore': use(instr.shared, instr.index, instr.value); break;
      case 'subgroupReduce': use(instr.value); break;
      case 'subgroupShuffleXor': use(instr.value); break;
      case 'mma': use(...instr.a, ...instr.b, ...instr.acc); break;
      default: instr satisfies never;
    }
  }
  return read;
}

function cudaDialect(kernel: Kernel): Dialect {
  const wg = kernel.workgroupSize;
  const helpers = `${cudaEntryName(kernel)}_helpers`;
  const read = new Set([...readValues(kernel.body)].map(valueName));
  const unusedMark = (name: string): string => (read.has(name) ? '' : '[[maybe_unused]] ');
  return {
    typeName,
    literal,
    special(which: Special): string {
      switch (which) {
        case 'workgroupId': return `(int)${WORKGROUP}`;
        case 'localId': return '(int)threadIdx.x';
        case 'globalId': return `(int)(${WORKGROUP} * ${wg}u + threadIdx.x)`;
        case 'subgroupId': return `(int)(threadIdx.x / ${WARP}u)`;
        case 'subgroupLane': return `(int)(threadIdx.x % ${WARP}u)`;
        case 'subgroupSize': return `${WARP}`;
        case 'subgroupCount': return `${Math.ceil(wg / WARP)}`;
        default: return which satisfies never;
      }
    },
    alu,
    cast,
    bitcast,
    load: (binding, buffer, _dtype, index) => {
      if (buffer.storage) return toF32(buffer.storage, `b${binding}[${index}]`);
      return buffer.dtype === DType.Bool ? `b${binding}[${index}] != 0u` : `b${binding}[${index}]`;
    },
    store: (binding, buffer, _dtype, index, value) => {
      if (buffer.storage) return `b${binding}[${index}] = ${fromF32(buffer.storage, value)};`;
      return buffer.dtype === DType.Bool ? `b${binding}[${index}] = ${value} ? 1u : 0u;` : `b${binding}[${index}] = ${value};`;
    },
    define: (name, dtype, expression) => `${unusedMark(name)}const ${typeName(dtype)} ${name} = ${expression};`,
    declareVar: (name, dtype, init) => `${unusedMark(name)}${typeName(dtype)} ${name} = ${init};`,
    assign: (name, value) => `${name} = ${value};`,
    loopOpen: (name, start, end, step) => `for (int ${name} = ${start}; ${name} < ${end}; ${name} += ${step}) {`,
    ifOpen: (cond) => `if (${cond}) {`,
    blockClose: () => '}',
    sharedScope: 'function',
    sharedDeclare: (name, dtype, size) => `__shared__ ${typeName(dtype)} ${name}[${size}];`,
    sharedLoad: (name, _dtype, index) => `${name}[${index}]`,
    sharedStore: (name, _dtype, index, value) => `${name}[${index}] = ${value};`,
    barrier: () => '__syncthreads();',
    subgroupReduce: (op, dtype, value) => `${helpers}::${subgroupHelperName(op, dtype)}(${value})`,
    // Full-warp mask: lowering emits shuffles only where the whole warp is converged (workgroups of whole warps, uniform flow).
    subgroupShuffleXor: (dtype, value, mask) => (dtype === DType.Bool ? `__shfl_xor_sync(0xffffffffu, (int)${value}, ${mask}) != 0` : `__shfl_xor_sync(0xffffffffu, ${value}, ${mask})`),
    mma: (operand, acc, a, b) => {
      const pack = (lo: string, hi: string) => `"r"(${helpers}::${mmaPackName(operand)}(${lo}, ${hi}))`;
      const inputs = [pack(a[0]!, a[1]!), pack(a[2]!, a[3]!), pack(a[4]!, a[5]!), pack(a[6]!, a[7]!), pack(b[0]!, b[1]!), pack(b[2]!, b[3]!)];
      return `asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.${operand}.${operand}.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};" : ${acc.map((x) => `"+f"(${x})`).join(', ')} : ${inputs.join(', ')});`;
    },
  };
}

function mmaPackName(operand: MmaOperand): string {
  return `kiln_pack_${operand}x2`;
}

/** Two f32 values rounded to `operand` and packed as one .f16x2/.bf16x2 register: `lo` in the low half (the PTX fragment order). */
function mmaPackHelper(operand: MmaOperand): string[] {
  const bits = (x: string) => (operand === DType.BF16 ? `__bfloat16_as_ushort(__float2bfloat16_rn(${x}))` : `__half_as_ushort(__float2half_rn(${x}))`);
  return [
    `static __device__ __forceinline__ unsigned int ${mmaPackName(operand)}(float lo, float hi) {`,
    `  return (unsigned int)${bits('lo')} | ((unsigned int)${bits('hi')} << 16);`,
    '}',
  ];
}

/** Printable for a one-line comment: names come from user graphs. */
function commentText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').replace(/\*\//g, '*?');
}

function checkLaunch(kernel: Kernel, grid: readonly [number, number, number]): number {
  const where = `printCuda(${kernel.name})`;
  for (const d of grid) {
    if (!Number.isInteger(d) || d < 1) throw new Error(`${where}: grid [${grid.join(', ')}] needs positive integers`);
  }
  if (grid[0] > 2 ** 31 - 1 || grid[1] > 65535 || grid[2] > 65535) {
    throw new Error(`${where}: grid [${grid.join(', ')}] exceeds CUDA's limits (x < 2³¹, y and z ≤ 65535)`);
  }
  const total = grid[0] * grid[1] * grid[2];
  if (total < kernel.workgroups) throw new Error(`${where}: grid [${grid.join(', ')}] has ${total} blocks, the kernel needs ${kernel.workgroups}`);
  if (kernel.workgroups > 2 ** 31 - 1) throw new Error(`${where}: ${kernel.workgroups} blocks overflow an i32 id`);
  if (grid[0] * grid[1] > 2 ** 32) throw new Error(`${where}: grid [${grid.join(', ')}] overflows the u32 linear block id`);
  if (!Number.isInteger(kernel.workgroupSize) || kernel.workgroupSize < 1 || kernel.workgroupSize > 1024) {
    throw new Error(`${where}: block size ${kernel.workgroupSize} is not an integer in 1‥1024`);
  }
  return total;
}

/** Prints `kernel` as a CUDA C++ translation unit with entry `cudaEntryName(kernel)`, for launch as `grid` blocks of `kernel.workgroupSize` threads. */
export function printCuda(kernel: Kernel, options: CudaOptions): string {
  const { grid } = options;
  checkLaunch(kernel, grid);
  const body = walk(kernel, cudaDialect(kernel), { indent: '  ', depth: 1 });
  const parameters = kernel.buffers.map((buffer: KernelBuffer, i) => {
    const constness = buffer.access === 'read' ? 'const ' : '';
    const separator = i + 1 < kernel.buffers.length ? ',' : '';
    const stored = buffer.storage ? ` stored as ${buffer.storage}` : '';
    return `    ${constness}${storageType(buffer.storage ?? buffer.dtype)}* __restrict__ b${i}${separator} // ${commentText(buffer.name)}: ${buffer.dtype}[${buffer.size}]${stored}`;
  });
  const usesWorkgroup = body.specials.has('workgroupId') || body.specials.has('globalId');
  const prologue = workgroupPrologue(kernel, grid, usesWorkgroup, ['blockIdx.x', 'blockIdx.y', 'blockIdx.z'], (e) => `const unsigned int ${WORKGROUP} = ${e};`, WORKGROUP);
  const includes: string[] = [];
  // Both headers guard themselves, so concatenated kernels may repeat them.
  const half = body.dtypes.has(DType.F16) || body.mmaOperands.has(DType.F16);
  const bfloat = body.dtypes.has(DType.BF16) || body.mmaOperands.has(DType.BF16);
  if (half || bfloat) includes.push('#include <cuda_fp16.h>');
  if (bfloat) includes.push('#include <cuda_bf16.h>');
  const helpers: string[] = [];
  for (const [op, dtypes] of body.subgroupReduces) {
    for (const dtype of dtypes) helpers.push(...subgroupHelper(op, dtype, kernel.workgroupSize));
  }
  for (const operand of body.mmaOperands) helpers.push(...mmaPackHelper(operand));
  const entry = cudaEntryName(kernel);
  // Helpers are per kernel (they bake in its block size), so a namespace named after it keeps concatenated kernels apart.
  const sections: string[][] = [
    [`// kiln kernel ${commentText(kernel.name)}: ${kernel.workgroups} blocks of ${kernel.workgroupSize}, grid ${grid.join('x')}`],
  ];
  if (includes.length > 0) sections.push(includes);
  if (helpers.length > 0) sections.push([`namespace ${entry}_helpers {`, ...helpers, '}']);
  sections.push([
    `extern "C" __global__ void __launch_bounds__(${kernel.workgroupSize}) ${entry}(`,
    ...(parameters.length > 0 ? parameters : []),
    ') {',
    ...prologue,
    ...body.lines,
    '}',
  ]);
  return sections.map((s) => s.join('\n')).join('\n\n') + '\n';
}
