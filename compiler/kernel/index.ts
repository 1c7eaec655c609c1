// Kernel IR · symbolic index arithmetic. Index values are affine forms
// Σ cᵢ·atomᵢ + k over atoms (thread/loop ids and opaque values) with known
// ranges, so the div/mod chains that views produce (reshape = linearise then
// split) simplify away: (a·d + b) / d = a and (a·d + b) % d = b when 0 ≤ b < d.
// Equal indices become equal SSA values, which is what lets lowering share a
// row statistic between the loops that need it.

import { DType } from '../ir/dtype.ts';
import { Alu, type ValueId } from './ir.ts';
import type { KernelBuilder } from './builder.ts';

export interface Atom {
  readonly id: ValueId;
  readonly lo: number;
  readonly hi: number;
  /** Same value in every thread of a workgroup. */
  readonly uniform: boolean;
}

export interface Index {
  /** atom id → coefficient */
  readonly terms: ReadonlyMap<ValueId, { atom: Atom; coef: number }>;
  readonly constant: number;
}

export function constIndex(k: number): Index {
  return { terms: new Map(), constant: k };
}

export function atomIndex(atom: Atom): Index {
  return { terms: new Map([[atom.id, { atom, coef: 1 }]]), constant: 0 };
}

export function range(x: Index): [number, number] {
  let lo = x.constant;
  let hi = x.constant;
  for (const { atom, coef } of x.terms.values()) {
    if (coef >= 0) {
      lo += coef * atom.lo;
      hi += coef * atom.hi;
    } else {
      lo += coef * atom.hi;
      hi += coef * atom.lo;
    }
  }
  return [lo, hi];
}

export function isUniform(x: Index): boolean {
  return [...x.terms.values()].every(({ atom }) => atom.uniform);
}

export function addIndex(a: Index, b: Index): Index {
  const terms = new Map(a.terms);
  for (const [id, t] of b.terms) {
    const prev = terms.get(id);
    const coef = (prev?.coef ?? 0) + t.coef;
    if (coef === 0) terms.delete(id);
    else terms.set(id, { atom: t.atom, coef });
  }
  return { terms, constant: a.constant + b.constant };
}

export function scaleIndex(a: Index, k: number): Index {
  if (k === 0) return constIndex(0);
  return { terms: new Map([...a.terms].map(([id, t]) => [id, { atom: t.atom, coef: t.coef * k }])), constant: a.constant * k };
}

/** x / d for an x whose coefficients and constant are all multiples of d (exact: no 1/d rounding). */
function exactDiv(x: Index, d: number): Index {
  return { terms: new Map([...x.terms].map(([id, t]) => [id, { atom: t.atom, coef: t.coef / d }])), constant: x.constant / d };
}

/** Splits x into (multiple-of-d part, rest) by coefficient divisibility. */
function splitBy(x: Index, d: number): { whole: Index; rest: Index } {
  const whole = new Map<ValueId, { atom: Atom; coef: number }>();
  const rest = new Map<ValueId, { atom: Atom; coef: number }>();
  for (const [id, t] of x.terms) (t.coef % d === 0 ? whole : rest).set(id, t);
  const kWhole = x.constant - (((x.constant % d) + d) % d);
  return { whole: { terms: whole, constant: kWhole }, rest: { terms: rest, constant: x.constant - kWhole } };
}

export class IndexEmitter {
  constructor(private readonly kb: KernelBuilder) {}

  /** Materialises an index as an i32 SSA value. */
  emit(x: Index): ValueId {
    let acc: ValueId | undefined;
    const terms = [...x.terms.values()].sort((p, q) => p.atom.id - q.atom.id);
    for (const { atom, coef } of terms) {
      const term = coef === 1 ? atom.id : this.kb.alu(Alu.Mul, DType.I32, [atom.id, this.kb.const(coef, DType.I32)]);
      acc = acc === undefined ? term : this.kb.alu(Alu.Add, DType.I32, [acc, term]);
    }
    if (acc === undefined) return this.kb.const(x.constant, DType.I32);
    return x.constant === 0 ? acc : this.kb.alu(Alu.Add, DType.I32, [acc, this.kb.const(x.constant, DType.I32)]);
  }

  /** An opaque value as a new atom of the given range. */
  atom(id: ValueId, lo: number, hi: number, uniform: boolean): Index {
    return atomIndex({ id, lo, hi, uniform });
  }

  /** min(x, extent − 1) as a new atom in [0, extent − 1]: edge tiles clamp rows and columns so their loads stay in bounds without branches. */
  clampBelow(x: Index, extent: number): Index {
    return this.atom(this.kb.alu(Alu.Min, DType.I32, [this.emit(x), this.kb.const(extent - 1, DType.I32)]), 0, extent - 1, false);
  }

  /** Floor division by a positive constant of a non-negative index. */
  div(x: Index, d: number): Index {
    if (d === 1) return x;
    const [lo, hi] = range(x);
    if (lo >= 0 && hi < d) return constIndex(0);
    const { whole, rest } = splitBy(x, d);
    const [rlo, rhi] = range(rest);
    if (rlo >= 0 && rhi < d) return exactDiv(whole, d);
    if (whole.terms.size > 0 || whole.constant !== 0) {
      // (w + r) / d = w/d + r/d when w is a multiple of d and r ≥ 0
      if (rlo >= 0 && lo >= 0) return addIndex(exactDiv(whole, d), this.div(rest, d));
    }
    const id = this.kb.alu(Alu.Div, DType.I32, [this.emit(x), this.kb.const(d, DType.I32)]);
    return this.atom(id, Math.floor(lo / d), Math.floor(hi / d), isUniform(x));
  }

  /** Remainder by a positive constant of a non-negative index. */
  mod(x: Index, d: number): Index {
    if (d === 1) return constIndex(0);
    const [lo, hi] = range(x);
    if (lo >= 0 && hi < d) return x;
    const { rest } = splitBy(x, d);
    const [rlo, rhi] = range(rest);
    if (rlo >= 0 && rhi < d) return rest;
    // x ≡ rest (mod d); the emitted remainder truncates, so it needs a non-negative operand.
    const operand = rlo >= 0 ? rest : x;
    const id = this.kb.alu(Alu.Mod, DType.I32, [this.emit(operand), this.kb.const(d, DType.I32)]);
    return this.atom(id, 0, Math.min(d - 1, Math.max(0, range(operand)[1])), isUniform(x));
  }

  /** Row-major linear index of an index vector in `shape`. */
  linearize(idx: readonly Index[], shape: readonly number[]): Index {
    let acc = constIndex(0);
    let stride = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      acc = addIndex(acc, scaleIndex(idx[i]!, stride));
      stride *= shape[i]!;
    }
    return acc;
  }

  /** Index vector of a row-major linear index in `shape`. */
  delinearize(linear: Index, shape: readonly number[]): Index[] {
    const out = new Array<Index>(shape.length);
    let stride = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < shape.length; i++) {
      stride /= shape[i]!;
      out[i] = shape[i] === 1 ? constIndex(0) : this.mod(this.div(linear, stride), shape[i]!);
    }
    return out;
  }
}

export function indexKey(idx: readonly Index[]): string {
  return idx
    .map((x) => `${[...x.terms].sort(([a], [b]) => a - b).map(([id, t]) => `${t.coef}*${id}`).join('+')}+${x.constant}`)
    .join(';');
}
