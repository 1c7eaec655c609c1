// DSL · parameter initialisers. An initialiser is data (printable, comparable)
// attached to a ParamSpec; initParams turns specs into values on the host from a
// seed. Each parameter draws from its own Threefry stream keyed by (seed, name),
// so adding a parameter never changes the values of the others.

import { threefry2x32 } from '../compiler/ir/random.ts';
import type { Shape } from './shape.ts';
import type { DType } from './dtype.ts';

export type Init =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'normal'; readonly std: number; readonly mean: number }
  /** timm's trunc_normal_: N(mean, std) redrawn outside the absolute bounds [low, high]. */
  | { readonly kind: 'truncNormal'; readonly std: number; readonly low: number; readonly high: number }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  /** U(±√(6/(fan_in+fan_out))), fans as torch computes them (dims ≥ 2 form the receptive field). */
  | { readonly kind: 'xavierUniform' }
  /** torch.nn.Linear's default: U(±1/√fan_in). */
  | { readonly kind: 'fanInUniform' }
  /**
   * MAETok's RoPE-mixed frequencies (spec §1.6a) for a (2, depth, heads·hd/2) tensor:
   * magnitudes θ^(−4j/hd) at a random angle per (layer, head), or angle 0 when `zeroAngle`.
   */
  | { readonly kind: 'ropeMixed'; readonly theta: number; readonly heads: number; readonly zeroAngle: boolean }
  /** The initial value of another parameter (an EMA starts as a copy of the weights). */
  | { readonly kind: 'copy'; readonly from: string }
  /** Fixed sin-cos position tables (spec §1.5), stored like the reference's frozen `pos_embed`. */
  | { readonly kind: 'sincos1d' }
  | { readonly kind: 'sincos2d'; readonly gridH: number; readonly gridW: number };

export const init = {
  zeros: (): Init => ({ kind: 'zeros' }),
  ones: (): Init => ({ kind: 'ones' }),
  constant: (value: number): Init => ({ kind: 'constant', value }),
  normal: (std: number, mean = 0): Init => ({ kind: 'normal', std, mean }),
  truncNormal: (std: number, low = -2, high = 2): Init => ({ kind: 'truncNormal', std, low, high }),
  uniform: (low: number, high: number): Init => ({ kind: 'uniform', low, high }),
  xavierUniform: (): Init => ({ kind: 'xavierUniform' }),
  fanInUniform: (): Init => ({ kind: 'fanInUniform' }),
  ropeMixed: (heads: number, theta = 10, zeroAngle = false): Init => ({ kind: 'ropeMixed', theta, heads, zeroAngle }),
  copy: (from: string): Init => ({ kind: 'copy', from }),
  sincos1d: (): Init => ({ kind: 'sincos1d' }),
  sincos2d: (gridH: number, gridW: number): Init => ({ kind: 'sincos2d', gridH, gridW }),
};

export interface ParamSpec {
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly init: Init;
  /** Never trained (requires_grad=False in the reference), e.g. fixed position tables. */
  readonly frozen?: boolean;
}

/** torch's fan computation: dim 1 is fan-in, dim 0 fan-out, dims ≥ 2 multiply both. */
export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A stream of uniform (0, 1) numbers from Threefry under (seed, name). */
class Stream {
  private counter = 0;
  private buffered: number | undefined;
  private readonly key0: number;
  private readonly key1: number;

  constructor(seed: number, name: string) {
    [this.key0, this.key1] = threefry2x32(seed >>> 0, fnv1a(name), 0, 0);
  }

  uniform(): number {
    if (this.buffered !== undefined) {
      const u = this.buffered;
      this.buffered = undefined;
      return u;
    }
    const [a, b] = threefry2x32(this.key0, this.key1, this.counter++, 0);
    this.buffered = (b + 0.5) / 2 ** 32;
    return (a + 0.5) / 2 ** 32;
  }

  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

function ropeMixed(shape: Shape, spec: Extract<Init, { kind: 'ropeMixed' }>, stream: Stream): Float64Array {
  const [two, depth, width] = shape as [number, number, number];
  if (shape.length !== 3 || two !== 2 || width % spec.heads !== 0) {
    throw new Error(`init.ropeMixed: expects a (2, depth, heads·hd/2) tensor, got [${shape.join(',')}]`);
  }
  const pairs = width / spec.heads;
  const hd = pairs * 2;
  const quarter = pairs / 2;
  const out = new Float64Array(2 * depth * width);
  for (let layer = 0; layer < depth; layer++) {
    for (let head = 0; head < spec.heads; head++) {
      const angle = spec.zeroAngle ? 0 : stream.uniform() * 2 * Math.PI;
      for (let j = 0; j < pairs; j++) {
        const magnitude = spec.theta ** ((-4 * (j % quarter)) / hd);
        const a = j < quarter ? angle : angle + Math.PI / 2;
        const col = layer * width + head * pairs + j;
        out[col] = magnitude * Math.cos(a);
        out[depth * width + col] = magnitude * Math.sin(a);
      }
    }
  }
  return out;
}

/** (…, L, D): pe[pos, 2k] = sin(pos·ω_k), pe[pos, 2k+1] = cos(pos·ω_k), ω_k = 10000^(−2k/D). */
function sincosTable1d(shape: Shape): Float64Array {
  const dim = shape[shape.length - 1]!;
  const length = shape[shape.length - 2]!;
  const out = new Float64Array(length * dim);
  for (let pos = 0; pos < length; pos++) {
    for (let k = 0; k < dim / 2; k++) {
      const angle = pos * 10000 ** ((-2 * k) / dim);
      out[pos * dim + 2 * k] = Math.sin(angle);
      out[pos * dim + 2 * k + 1] = Math.cos(angle);
    }
  }
  return out;
}

/** (…, H·W, D): the first D/2 dims encode the column, the last D/2 the row; each half [sin | cos]. */
function sincosTable2d(shape: Shape, gridH: number, gridW: number): Float64Array {
  const dim = shape[shape.length - 1]!;
  const half = dim / 2;
  const out = new Float64Array(gridH * gridW * dim);
  for (let token = 0; token < gridH * gridW; token++) {
    const positions = [token % gridW, Math.floor(token / gridW)];
    positions.forEach((pos, h) => {
      for (let k = 0; k < half / 2; k++) {
        const angle = pos * 10000 ** ((-2 * k) / half);
        out[token * dim + h * half + k] = Math.sin(angle);
        out[token * dim + h * half + half / 2 + k] = Math.cos(angle);
      }
    });
  }
  return out;
}

export function initValues(spec: ParamSpec, seed: number): Float64Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  const stream = new Stream(seed, spec.name);
  const i = spec.init;
  switch (i.kind) {
    case 'zeros': return out;
    case 'ones': return out.fill(1);
    case 'constant': return out.fill(i.value);
    case 'normal':
      for (let k = 0; k < n; k++) out[k] = i.mean + i.std * stream.normal();
      return out;
    case 'truncNormal':
      for (let k = 0; k < n; k++) {
        let v: number;
        do v = i.std * stream.normal(); while (v < i.low || v > i.high);
        out[k] = v;
      }
      return out;
    case 'uniform':
      for (let k = 0; k < n; k++) out[k] = i.low + (i.high - i.low) * stream.uniform();
      return out;
    case 'xavierUniform': {
      const { fanIn, fanOut } = fans(spec.shape);
      const bound = Math.sqrt(6 / (fanIn + fanOut));
      for (let k = 0; k < n; k++) out[k] = bound * (2 * stream.uniform() - 1);
      return out;
    }
    case 'fanInUniform': {
      const bound = 1 / Math.sqrt(fans(spec.shape).fanIn);
      for (let k = 0; k < n; k++) out[k] = bound * (2 * stream.uniform() - 1);
      return out;
    }
    case 'ropeMixed':
      return ropeMixed(spec.shape, i, stream);
    case 'copy':
      throw new Error(`initValues: "${spec.name}" copies "${i.from}"; initialise them together with initParams`);
    case 'sincos1d':
      return sincosTable1d(spec.shape);
    case 'sincos2d':
      return sincosTable2d(spec.shape, i.gridH, i.gridW);
    default:
      return i satisfies never;
  }
}

/** Initial values of every parameter, keyed by its state-dict name. */
export function initParams(specs: readonly ParamSpec[], seed: number): Record<string, Float64Array> {
  const values: Record<string, Float64Array> = {};
  for (const spec of specs) if (spec.init.kind !== 'copy') values[spec.name] = initValues(spec, seed);
  for (const spec of specs) {
    if (spec.init.kind !== 'copy') continue;
    const source = values[spec.init.from];
    if (!source || source.length !== spec.shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`initParams: "${spec.name}" copies "${spec.init.from}", which is missing or has another size`);
    }
    values[spec.name] = Float64Array.from(source);
  }
  return values;
}
