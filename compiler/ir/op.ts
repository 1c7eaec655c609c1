// Graph IR · the op enum. Every Graph IR node carries one of these; the groups
// below are how passes, the interpreter and the printers classify ops, so no code
// compares op names as strings. Composites are one op (`Composite`) whose
// argument names which composite it is (see compiler/composite).

export enum Op {
  // sources
  Const = 'const',
  Iota = 'iota',
  Input = 'input',
  Param = 'param',
  RandomBits = 'randomBits',
  // unary
  Neg = 'neg',
  Recip = 'recip',
  Sqrt = 'sqrt',
  Exp2 = 'exp2',
  Log2 = 'log2',
  Sin = 'sin',
  Trunc = 'trunc',
  Erf = 'erf',
  Not = 'not',
  // binary
  Add = 'add',
  Mul = 'mul',
  Max = 'max',
  CmpLt = 'cmplt',
  CmpNe = 'cmpne',
  IDiv = 'idiv',
  Mod = 'mod',
  And = 'and',
  Or = 'or',
  Xor = 'xor',
  Shl = 'shl',
  Shr = 'shr',
  // ternary
  Where = 'where',
  // type conversion
  Cast = 'cast',
  Bitcast = 'bitcast',
  // reductions (keep reduced axes as size 1)
  ReduceSum = 'reduceSum',
  ReduceMax = 'reduceMax',
  // views: index math only, never a kernel of their own
  Reshape = 'reshape',
  Permute = 'permute',
  Expand = 'expand',
  Pad = 'pad',
  Shrink = 'shrink',
  Flip = 'flip',
  // contraction and indexing
  Dot = 'dot',
  Gather = 'gather',
  ScatterAdd = 'scatterAdd',
  // structural
  Assign = 'assign',
  StopGradient = 'stopGradient',
  /** Identity that no pass looks through or merges with its operand: starts a recomputed (checkpointed) region. */
  Barrier = 'barrier',
  Composite = 'composite',
}

export const SOURCE_OPS = [Op.Const, Op.Iota, Op.Input, Op.Param, Op.RandomBits] as const;
export const UNARY_OPS = [Op.Neg, Op.Recip, Op.Sqrt, Op.Exp2, Op.Log2, Op.Sin, Op.Trunc, Op.Erf, Op.Not] as const;
export const BINARY_OPS = [
  Op.Add, Op.Mul, Op.Max, Op.CmpLt, Op.CmpNe, Op.IDiv, Op.Mod, Op.And, Op.Or, Op.Xor, Op.Shl, Op.Shr,
] as const;
export const REDUCE_OPS = [Op.ReduceSum, Op.ReduceMax] as const;
export const VIEW_OPS = [Op.Reshape, Op.Permute, Op.Expand, Op.Pad, Op.Shrink, Op.Flip] as const;

export type SourceOp = (typeof SOURCE_OPS)[number];
export type UnaryOp = (typeof UNARY_OPS)[number];
export type BinaryOp = (typeof BINARY_OPS)[number];
export type ReduceOp = (typeof REDUCE_OPS)[number];
export type ViewOp = (typeof VIEW_OPS)[number];

const unarySet: ReadonlySet<Op> = new Set(UNARY_OPS);
const binarySet: ReadonlySet<Op> = new Set(BINARY_OPS);
const reduceSet: ReadonlySet<Op> = new Set(REDUCE_OPS);
const viewSet: ReadonlySet<Op> = new Set(VIEW_OPS);
const sourceSet: ReadonlySet<Op> = new Set(SOURCE_OPS);

export const isUnary = (op: Op): op is UnaryOp => unarySet.has(op);
export const isBinary = (op: Op): op is BinaryOp => binarySet.has(op);
export const isReduce = (op: Op): op is ReduceOp => reduceSet.has(op);
export const isView = (op: Op): op is ViewOp => viewSet.has(op);
export const isSource = (op: Op): op is SourceOp => sourceSet.has(op);

/** Comparison ops produce bool; the rest of the binary group keeps the operand dtype. */
export const COMPARE_OPS: ReadonlySet<Op> = new Set([Op.CmpLt, Op.CmpNe]);
/** Ops defined only on integer (or bool, for the logical ones) operands. */
export const INTEGER_ONLY_OPS: ReadonlySet<Op> = new Set([Op.IDiv, Op.And, Op.Or, Op.Xor, Op.Shl, Op.Shr, Op.Not]);
/** Ops defined only on float operands. */
export const FLOAT_ONLY_OPS: ReadonlySet<Op> = new Set([Op.Recip, Op.Sqrt, Op.Exp2, Op.Log2, Op.Sin, Op.Erf, Op.Trunc]);
