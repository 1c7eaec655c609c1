// DSL · tracing. A model is a pure function (ctx, inputs) => outputs; trace runs
// it once on symbolic tensors and returns the Graph IR plus the parameter specs.
// ctx.param declares parameters where they are used, under dotted scopes that
// reproduce the reference PyTorch state-dict names (`blocks.3.attn.qkv.weight`).

import type { CheckpointRegion } from '../compiler/autodiff/backward.ts';
import { Builder } from '../compiler/ir/builder.ts';
import { DType } from '../compiler/ir/dtype.ts';
import { ShapeError, formatShape } from '../compiler/ir/errors.ts';
import { Graph } from '../compiler/ir/graph.ts';
import type { Node } from '../compiler/ir/node.ts';
import type { Init, ParamSpec } from './init.ts';
import { foldIn } from './random.ts';
import type { Shape } from './shape.ts';
import { Tensor, type TensorOwner } from './tensor.ts';

export interface InputSpec<S extends Shape = Shape, D extends DType = DType> {
  readonly shape: S;
  readonly dtype: D;
}

/** @example trace(model, { x: spec([8, 1, 28, 28]), y: spec([8], DType.I32) }) */
export function spec<const S extends Shape>(shape: S): InputSpec<S, DType.F32>;
export function spec<const S extends Shape, D extends DType>(shape: S, dtype: D): InputSpec<S, D>;
export function spec(shape: Shape, dtype: DType = DType.F32): InputSpec {
  return { shape, dtype };
}

/** Name of the u32[2] graph input that seeds ctx.rng(). */
export const RNG_INPUT = 'rng';
/** Output-name prefix of the assign nodes that write new parameter and state values. */
export const ASSIGN_PREFIX = 'assign:';

/** State shared by every scoped Context of one trace. */
class Tracer implements TensorOwner {
  readonly builder = new Builder();
  readonly regions = new Map<number, CheckpointRegion>();
  readonly params = new Map<string, { spec: ParamSpec; node: Node }>();
  /** Latest value written to each persistent state (full name → value), emitted as assigns. */
  readonly stateWrites = new Map<string, Node>();
  readonly stateNames = new Set<string>();
  rngKey: Tensor<readonly [2], DType.U32> | undefined;
  rngCount = 0;
}

export class Context {
  constructor(
    private readonly tracer: Tracer,
    readonly prefix: string,
  ) {}

  get builder(): Builder {
    return this.tracer.builder;
  }

  /** A context whose params live under `prefix.name`. @example const blk = ctx.child(`blocks.${i}`); */
  child(name: string | number): Context {
    return new Context(this.tracer, this.qualify(String(name)));
  }

  private qualify(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  /**
   * Declares (or reuses) a parameter under this context's scope.
   * @example const w = ctx.param('weight', [out, inDim] as const, init.xavierUniform());
   *          const b = ctx.param('bias', [out] as const, init.zeros());
   */
  param<const S extends Shape>(name: string, shape: S, initializer: Init): Tensor<S, DType.F32>;
  param<const S extends Shape, D extends DType>(name: string, shape: S, initializer: Init, dtype: D): Tensor<S, D>;
  param(name: string, shape: Shape, initializer: Init, dtype: DType = DType.F32): Tensor {
    const full = this.qualify(name);
    const existing = this.tracer.params.get(full);
    if (existing) {
      if (formatShape(existing.spec.shape) !== formatShape(shape) || existing.spec.dtype !== dtype) {
        throw new ShapeError('param', [existing.spec.shape, shape], `"${full}" was declared before with another shape or dtype`);
      }
      return new Tensor(existing.node, this.tracer);
    }
    const node = this.builder.param(full, shape, dtype);
    this.tracer.params.set(full, { spec: { name: full, shape: [...shape], dtype, init: initializer }, node });
    return new Tensor(node, this.tracer);
  }

  /**
   * A parameter that is never trained (the reference's requires_grad=False tensors, e.g. fixed
   * position tables): it is part of the state dict and of parameter counts; trainStep skips it.
   * @example const pos = ctx.frozenParam('pos_embed', [1, L, D] as const, init.sincos1d());
   */
  frozenParam<const S extends Shape>(name: string, shape: S, initializer: Init): Tensor<S, DType.F32> {
    const tensor = this.param(name, shape, initializer);
    const entry = this.tracer.params.get(this.qualify(name))!;
    this.tracer.params.set(entry.spec.name, { spec: { ...entry.spec, frozen: true }, node: entry.node });
    return tensor;
  }

  /**
   * Persistent state that is not trained (spectral-norm vectors, LeCAM EMAs — torch's buffers):
   * a frozen parameter whose current value this returns. `setState` writes a new value; the
   * trace then ends with one `assign:<name>` output per written state holding its last value,
   * so a runtime updates it in place like optimiser state. A read after a write in the same
   * trace sees the written value (torch's in-place buffer updates, e.g. one power iteration
   * per discriminator call).
   * @example const u = ctx.state('weight_u', [out] as const, init.normal(1));
   *          ctx.setState('weight_u', nextU);
   */
  state<const S extends Shape>(name: string, shape: S, initializer: Init): Tensor<S, DType.F32> {
    const full = this.qualify(name);
    const declared = this.frozenParam(name, shape, initializer);
    this.tracer.stateNames.add(full);
    const written = this.tracer.stateWrites.get(full);
    return written ? new Tensor<S, DType.F32>(written, this.tracer) : declared;
  }

  /**
   * Writes a new value into a state declared with `ctx.state` (never differentiated through:
   * the value is stop-gradient'ed, as torch updates buffers without autograd).
   * @example ctx.setState('logits_real_ema', ema.mul(decay).add(mean.mul(1 - decay)));
   */
  setState(name: string, value: Tensor<Shape, DType.F32>): void {
    const full = this.qualify(name);
    const entry = this.tracer.params.get(full);
    if (!entry || !this.tracer.stateNames.has(full)) throw new Error(`setState: "${full}" is not a state declared with ctx.state`);
    if (formatShape(entry.spec.shape) !== formatShape(value.shape) || entry.spec.dtype !== value.dtype) {
      throw new ShapeError('setState', [entry.spec.shape, value.shape], `"${full}" is a ${entry.spec.dtype}${formatShape(entry.spec.shape)} state`);
    }
    this.tracer.stateWrites.set(full, value.stopGradient().node);
  }

  /** Whether a declared parameter (full name) is frozen. */
  isFrozen(name: string): boolean {
    return this.tracer.params.get(name)?.spec.frozen === true;
  }

  /** A graph input (data fed at run time). @example const x = ctx.input('x', [B, 784] as const); */
  input<const S extends Shape>(name: string, shape: S): Tensor<S, DType.F32>;
  input<const S extends Shape, D extends DType>(name: string, shape: S, dtype: D): Tensor<S, D>;
  input(name: string, shape: Shape, dtype: DType = DType.F32): Tensor {
    return new Tensor(this.builder.input(name, shape, dtype), this.tracer);
  }

  /** A constant tensor filled with one value. @example const zero = ctx.full([4] as const, 0); */
  full<const S extends Shape>(shape: S, value: number): Tensor<S, DType.F32>;
  full<const S extends Shape, D extends DType>(shape: S, value: number, dtype: D): Tensor<S, D>;
  full(shape: Shape, value: number, dtype: DType = DType.F32): Tensor {
    return new Tensor(this.builder.const(value, dtype, shape), this.tracer);
  }

  /** Indices 0…n−1 along `axis`, broadcast over `shape`. @example const pos = ctx.iota([T] as const, 0); */
  iota<const S extends Shape>(shape: S, axis?: number): Tensor<S, DType.I32>;
  iota<const S extends Shape, D extends DType>(shape: S, axis: number, dtype: D): Tensor<S, D>;
  iota(shape: Shape, axis = 0, dtype: DType = DType.I32): Tensor {
    return new Tensor(this.builder.iota(shape, axis, dtype), this.tracer);
  }

  /** Every parameter declared so far in this trace, by full name, in declaration order. */
  declaredParams(): Map<string, Tensor<Shape, DType>> {
    return new Map([...this.tracer.params].map(([name, p]) => [name, new Tensor(p.node, this.tracer)]));
  }

  /** Wraps a node built directly with the builder. */
  wrap<S extends Shape = Shape, D extends DType = DType>(node: Node): Tensor<S, D> {
    return new Tensor<S, D>(node, this.tracer);
  }

  /**
   * A fresh PRNG key, deterministically derived from the graph's `rng` input by call order.
   * @example const noise = normal(ctx.rng(), [B, L, C] as const);
   */
  rng(): Tensor<readonly [2], DType.U32> {
    this.tracer.rngKey ??= this.input(RNG_INPUT, [2] as const, DType.U32);
    return foldIn(this.tracer.rngKey, this.tracer.rngCount++);
  }
}

export type TensorsOf<I extends Record<string, InputSpec>> = { [K in keyof I]: Tensor<I[K]['shape'], I[K]['dtype']> };
export type ModelOutputs = Tensor<Shape, DType> | Readonly<Record<string, Tensor<Shape, DType>>>;

export interface Traced {
  readonly graph: Graph;
  readonly params: readonly ParamSpec[];
}

/**
 * Traces a model function into a Graph and its parameter specs.
 * @example const { graph, params } = trace((ctx, { x }) => mlp(ctx, x), { x: spec([4, 8]) });
 *          console.log(graph.toString());
 */
export function trace<I extends Record<string, InputSpec>>(fn: (ctx: Context, inputs: TensorsOf<I>) => ModelOutputs, inputs: I = {} as I): Traced {
  const tracer = new Tracer();
  const ctx = new Context(tracer, '');
  const symbolic = Object.fromEntries(Object.entries(inputs).map(([name, s]) => [name, ctx.input(name, s.shape, s.dtype)])) as TensorsOf<I>;
  const result = fn(ctx, symbolic);
  const outputs = result instanceof Tensor ? [{ name: 'out', node: result.node }] : Object.entries(result).map(([name, t]) => ({ name, node: t.node }));
  for (const [name, value] of tracer.stateWrites) {
    const output = `${ASSIGN_PREFIX}${name}`;
    if (outputs.some((o) => o.name === output)) throw new Error(`trace: the state "${name}" is written by ctx.setState and also returned as "${output}"`);
    outputs.push({ name: output, node: tracer.builder.assign(tracer.params.get(name)!.node, value) });
  }
  const graph = new Graph(outputs);
  // Every declared parameter is part of the model's state dict, even one no output reads
  // (MAETok's decoder final-norm modulation is such a tensor in the reference).
  const params = [...tracer.params.values()].map((p) => p.spec);
  return { graph, params };
}
