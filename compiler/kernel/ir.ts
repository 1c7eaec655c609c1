// Kernel IR · what one GPU kernel does, as a linear list of instructions over
// SSA values: thread and workgroup ids, constants, scalar ALU, loads and stores
// on bound buffers with computed indices, mutable locals (accumulators),
// structured loops and ifs, workgroup memory and barriers. Both printers (WGSL,
// CUDA) walk the same list; a printer only prints. Index arithmetic is ordinary
// i32 ALU here; symbolic simplification happens before emission (index.ts).
//
// Capability ops (only when the target has the feature; lowering decides):
// subgroups. A subgroup is a hardware SIMD group of threads within the
// workgroup (a CUDA warp of 32; on WebGPU any power of two in [4, 128], chosen
// by the driver, even per pipeline: lavapipe uses 8). `subgroupReduce` combines
// `value` over the subgroup's active lanes and gives every lane the result; the
// `subgroup*` specials say where a thread is: its subgroup's index within the
// workgroup (0 ≤ subgroupId < subgroupCount), its lane within it, and the size.
// Code using them must not assume a size; subgroupCount ≤ ⌈workgroupSize / 4⌉.
// mma (CUDA sm_80+ tensor cores): one warp-wide m16n8k16 product D = A·B + C
// where each of the warp's 32 lanes holds a fixed fragment of A, B and C (the
// PTX ISA's layouts, MMA_FRAGMENTS below); it needs a whole warp in
// warp-uniform control flow, so kernels using it have workgroups of whole warps.

import { DType } from '../ir/dtype.ts';

export type ValueId = number & { readonly __brand: 'KernelValue' };

/** Scalar operations. Integer Div truncates toward zero and Mod takes the dividend's sign (Graph IR semantics). */
export enum Alu {
  Add = 'add',
  Sub = 'sub',
  Mul = 'mul',
  Div = 'div',
  Mod = 'mod',
  Max = 'max',
  Min = 'min',
  CmpLt = 'cmplt',
  CmpNe = 'cmpne',
  CmpEq = 'cmpeq',
  And = 'and',
  Or = 'or',
  Xor = 'xor',
  Shl = 'shl',
  Shr = 'shr',
  Neg = 'neg',
  Not = 'not',
  Recip = 'recip',
  Sqrt = 'sqrt',
  Exp2 = 'exp2',
  Log2 = 'log2',
  Sin = 'sin',
  Trunc = 'trunc',
  Erf = 'erf',
  /** select(cond, a, b) = cond ? a : b (args: cond, a, b). */
  Select = 'select',
}

export const UNARY_ALU: ReadonlySet<Alu> = new Set([Alu.Neg, Alu.Not, Alu.Recip, Alu.Sqrt, Alu.Exp2, Alu.Log2, Alu.Sin, Alu.Trunc, Alu.Erf]);

/**
 * Linear ids: the workgroup index (grids wider than one dimension allows are folded by the printer), the thread within it, and their combination;
 * with the subgroup capability, the thread's subgroup, its lane in it, the subgroup size and the number of subgroups in the workgroup.
 */
export type Special = 'workgroupId' | 'localId' | 'globalId' | 'subgroupId' | 'subgroupLane' | 'subgroupSize' | 'subgroupCount';

/** Specials that need the subgroup capability (WGSL `enable subgroups;`). */
export const SUBGROUP_SPECIALS: ReadonlySet<Special> = new Set<Special>(['subgroupId', 'subgroupLane', 'subgroupSize', 'subgroupCount']);

/** Smallest subgroup any target may use (WebGPU's lower bound for subgroupMinSize); sizes per-subgroup scratch arrays. */
export const MIN_SUBGROUP_SIZE = 4;

/** Optional capabilities of the target a kernel is lowered for (WebGPU features 'subgroups', 'shader-f16'; CUDA has both). Absent = off. */
export interface TargetFeatures {
  readonly subgroups?: boolean;
  readonly f16?: boolean;
  /** Tensor-core products (Kernel IR `mma`) with operands rounded to this type; CUDA sm_80+ only. */
  readonly mma?: MmaOperand;
}

/**
 * What every CUDA device of the supported architectures (sm_80+) has: f16, warps and tensor cores.
 * The dtype policy (DESIGN.md): matmuls on tensor cores with bf16 operands and f32 accumulation, and (compile.ts,
 * CompileOptions.activations) activations stored as bf16; weights, optimizer state and reductions stay f32.
 */
export const CUDA_FEATURES: TargetFeatures = { f16: true, subgroups: true, mma: DType.BF16 };

/** CUDA with f32 math throughout (no tensor cores): for results that must match the interpreter to f32 tolerance. */
export const CUDA_F32_FEATURES: TargetFeatures = { f16: true, subgroups: true };

/** Operand types of the m16n8k16 tensor-core product (accumulation is always f32). */
export type MmaOperand = DType.BF16 | DType.F16;

/** Warp size the mma capability assumes (a CUDA warp). */
export const MMA_WARP = 32;

/**
 * Where lane `lane` of the warp holds its fragment elements of mma.m16n8k16 with
 * .f16/.bf16 operands and f32 accumulators (PTX ISA, "Matrix Fragments for
 * mma.m16n8k16 with floating point type"): with g = lane >> 2, t = lane % 4,
 * A (16×16, row-major) a0‥a7, B (16×8, K×N) b0‥b3, C/D (16×8) c0‥c3.
 */
export const MMA_FRAGMENTS = {
  a: (lane: number, i: number): [row: number, col: number] => [(lane >> 2) + ((i >> 1) & 1) * 8, (lane % 4) * 2 + (i & 1) + (i >= 4 ? 8 : 0)],
  b: (lane: number, i: number): [k: number, col: number] => [(lane % 4) * 2 + (i & 1) + (i >= 2 ? 8 : 0), lane >> 2],
  c: (lane: number, i: number): [row: number, col: number] => [(lane >> 2) + (i >= 2 ? 8 : 0), (lane % 4) * 2 + (i & 1)],
} as const;

/** The combining ops a subgroup reduction supports (sum and max: what Graph IR reductions need). */
export type SubgroupOp = Alu.Add | Alu.Max;

export type Instr =
  | { readonly kind: 'const'; readonly id: ValueId; readonly dtype: DType; readonly value: number }
  | { readonly kind: 'special'; readonly id: ValueId; readonly which: Special }
  | { readonly kind: 'alu'; readonly id: ValueId; readonly op: Alu; readonly dtype: DType; readonly args: readonly ValueId[] }
  | { readonly kind: 'cast'; readonly id: ValueId; readonly dtype: DType; readonly from: DType; readonly arg: ValueId }
  | { readonly kind: 'bitcast'; readonly id: ValueId; readonly dtype: DType; readonly from: DType; readonly arg: ValueId }
  /** buffer = index into Kernel.buffers; index is an i32 element index, always in bounds by construction. */
  | { readonly kind: 'load'; readonly id: ValueId; readonly dtype: DType; readonly buffer: number; readonly index: ValueId }
  | { readonly kind: 'store'; readonly buffer: number; readonly index: ValueId; readonly value: ValueId }
  /** A mutable local initialised to `init`; reading it (as an argument) reads its current value. */
  | { readonly kind: 'var'; readonly id: ValueId; readonly dtype: DType; readonly init: ValueId }
  | { readonly kind: 'assign'; readonly target: ValueId; readonly value: ValueId }
  /** for (var id: i32 = start; id < end; id += step) { … } up to the matching endLoop. */
  | { readonly kind: 'loop'; readonly id: ValueId; readonly start: ValueId; readonly end: ValueId; readonly step: ValueId }
  | { readonly kind: 'endLoop' }
  | { readonly kind: 'if'; readonly cond: ValueId }
  | { readonly kind: 'endIf' }
  /** A workgroup-shared array of `size` elements. */
  | { readonly kind: 'shared'; readonly id: ValueId; readonly dtype: DType; readonly size: number }
  | { readonly kind: 'sharedLoad'; readonly id: ValueId; readonly dtype: DType; readonly shared: ValueId; readonly index: ValueId }
  | { readonly kind: 'sharedStore'; readonly shared: ValueId; readonly index: ValueId; readonly value: ValueId }
  /** workgroupBarrier / __syncthreads: only in workgroup-uniform control flow. */
  | { readonly kind: 'barrier' }
  /**
   * Capability (subgroups): `op` over `value` across the active lanes of this thread's subgroup; every lane gets the result.
   * Numeric dtypes only (f32, f16, i32, u32). Like a barrier, only in workgroup-uniform control flow (so every lane is active).
   */
  | { readonly kind: 'subgroupReduce'; readonly id: ValueId; readonly op: SubgroupOp; readonly dtype: DType; readonly value: ValueId }
  /** Capability (subgroups): `value` as held by lane (this lane XOR `mask`) of the subgroup; mask < MIN_SUBGROUP_SIZE. Uniform control flow only. */
  | { readonly kind: 'subgroupShuffleXor'; readonly id: ValueId; readonly dtype: DType; readonly value: ValueId; readonly mask: number }
  /**
   * Capability (mma): the warp's m16n8k16 product acc += A·B. `a` (8 values) and `b` (4 values) are this lane's
   * fragment elements as f32 values, rounded to `operand` when packed; `acc` are 4 f32 mutable locals updated in place.
   * Only in warp-uniform control flow of a kernel whose workgroups are whole warps.
   */
  | { readonly kind: 'mma'; readonly operand: MmaOperand; readonly a: readonly ValueId[]; readonly b: readonly ValueId[]; readonly acc: readonly ValueId[] };

export interface KernelBuffer {
  /** The Program buffer this binding refers to (for printing names and debugging). */
  readonly name: string;
  /** Element type as the Graph IR sees it (bool is stored as one u32 word per element); loads and stores move values of this type. */
  readonly dtype: DType;
  /**
   * What the buffer holds when that differs from `dtype`: bf16 for f32 activations under CUDA's bf16 policy.
   * The printer converts on load (exactly) and store (round to nearest even). CUDA only.
   */
  readonly storage?: DType.BF16;
  readonly access: 'read' | 'read_write';
  /** Number of elements, for bounds reasoning and validation. */
  readonly size: number;
}

export interface Kernel {
  readonly name: string;
  /** Binding i is buffers[i]. */
  readonly buffers: readonly KernelBuffer[];
  /** Threads per workgroup (one dimension). */
  readonly workgroupSize: number;
  /** Number of workgroups (linear); the printer folds it into up to three grid dimensions. */
  readonly workgroups: number;
  readonly body: readonly Instr[];
}

/** Dimension limit per grid axis on WebGPU (maxComputeWorkgroupsPerDimension) and CUDA grid.y/z. */
export const MAX_GRID_DIM = 65535;

/** Folds a linear workgroup count into [x, y, z] with each ≤ MAX_GRID_DIM; x·y·z ≥ count. */
export function foldGrid(count: number, maxDim = MAX_GRID_DIM): [number, number, number] {
  if (count <= maxDim) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / maxDim);
  if (y <= maxDim) return [maxDim, y, 1];
  const z = Math.ceil(y / maxDim);
  if (z > maxDim) throw new Error(`foldGrid: ${count} workgroups exceed ${maxDim}³`);
  return [maxDim, maxDim, z];
}
