// DSL · the training step as ONE traced program: forward, backward, global-norm
// clipping, AdamW (per-tensor decay mask) and optionally EMA. Parameters and
// optimiser state are params of the graph updated by assign nodes, so a runtime
// keeps them on the device and updates them in place; the step's outputs are the
// loss, the gradient norm, the learning rate and any metrics the loss returns.
// States the loss writes with ctx.setState (spectral-norm vectors, LeCAM EMAs)
// become assign outputs of the same program (see trace in context.ts).

import type { DType } from '../compiler/ir/dtype.ts';
import { topoSort } from '../compiler/ir/graph.ts';
import { grad } from './autodiff.ts';
import { ASSIGN_PREFIX, trace, type Context, type InputSpec, type Traced, type TensorsOf } from './context.ts';
import { init, type ParamSpec } from './init.ts';
import { assign } from './nn/functional.ts';
import { adamw, clipGradNorm, decaysByDefault, emaUpdate, globalNorm, type AdamWOptions, type Schedule } from './optim.ts';
import type { Shape } from './shape.ts';
import type { Tensor } from './tensor.ts';

type F32 = Tensor<Shape, DType.F32>;

/** Graph input holding the 1-based step number (f32 scalar): drives bias correction and the schedule. */
export const STEP_INPUT = 'step';
export { ASSIGN_PREFIX };
export const OPTIM_M_PREFIX = 'optim.m.';
export const OPTIM_V_PREFIX = 'optim.v.';
export const EMA_PREFIX = 'ema.';

export interface TrainStepOptions {
  readonly schedule: Schedule;
  readonly adamw?: AdamWOptions;
  /** Clip the global gradient norm to this value (torch's clip_grad_norm_); none when omitted. */
  readonly clip?: number;
  /** Keep an EMA of the weights with this decay (initialised to the weights). */
  readonly ema?: number;
  /** Which tensors get weight decay (default: the reference rule, ndim ≥ 2 and not a bias). */
  readonly decay?: (name: string, shape: Shape) => boolean;
  /** Which parameters are trained (default all); the others stay frozen, e.g. MAETok stage 2's encoder. */
  readonly trainable?: (name: string) => boolean;
}

export type LossOutputs = F32 | ({ readonly loss: F32 } & Readonly<Record<string, F32>>);

export interface TrainStep extends Traced {
  /** Parameters the step trains. */
  readonly trained: readonly ParamSpec[];
}

const isState = (name: string) => name.startsWith(OPTIM_M_PREFIX) || name.startsWith(OPTIM_V_PREFIX) || name.startsWith(EMA_PREFIX);

/**
 * Traces loss + backward + clip + AdamW (+ EMA) into one program.
 * @example const step = trainStep((ctx, { x, y }) => classifierLoss(ctx, x, y), { x: spec([B, 784]), y: spec([B], DType.I32) },
 *                                 { schedule: constantLr(1e-3), clip: 1.0, ema: 0.999 });
 */
export function trainStep<I extends Record<string, InputSpec>>(lossFn: (ctx: Context, inputs: TensorsOf<I>) => LossOutputs, inputs: I, options: TrainStepOptions): TrainStep {
  const decays = options.decay ?? decaysByDefault;
  const trainable = options.trainable ?? (() => true);
  const traced = trace((ctx, data) => {
    const result = lossFn(ctx, data);
    const { loss, ...metrics } = 'loss' in result ? result : { loss: result };
    if (loss.shape.length !== 0) throw new Error(`trainStep: the loss must be a scalar, got [${loss.shape.join(',')}]`);
    // Like torch's optimisers, skip tensors that receive no gradient (no decay either).
    const reached = new Set(topoSort([loss.node]).map((n) => n.id));
    const params = [...ctx.declaredParams()].filter(([name, p]) => !isState(name) && !ctx.isFrozen(name) && trainable(name) && reached.has(p.node.id)) as [string, F32][];
    const step = ctx.input(STEP_INPUT, [] as const);
    const raw = grad(loss, params.map(([, p]) => p)) as F32[];
    const { grads, norm } = options.clip === undefined ? { grads: raw, norm: globalNorm(raw) } : clipGradNorm(raw, options.clip);
    const lr = options.schedule(step);
    const outputs: Record<string, F32> = { loss, gradNorm: norm, lr, ...metrics };
    params.forEach(([name, param], i) => {
      const m = ctx.param(`${OPTIM_M_PREFIX}${name}`, param.shape, init.zeros());
      const v = ctx.param(`${OPTIM_V_PREFIX}${name}`, param.shape, init.zeros());
      const weightDecay = decays(name, param.shape) ? (options.adamw?.weightDecay ?? 0) : 0;
      const next = adamw(param, grads[i]!, m, v, step, lr, { ...options.adamw, weightDecay });
      outputs[`${ASSIGN_PREFIX}${name}`] = assign(param, next.param);
      outputs[`${ASSIGN_PREFIX}${OPTIM_M_PREFIX}${name}`] = assign(m, next.m);
      outputs[`${ASSIGN_PREFIX}${OPTIM_V_PREFIX}${name}`] = assign(v, next.v);
      if (options.ema !== undefined) {
        const ema = ctx.param(`${EMA_PREFIX}${name}`, param.shape, init.copy(name));
        outputs[`${ASSIGN_PREFIX}${EMA_PREFIX}${name}`] = assign(ema, emaUpdate(ema, next.param, options.ema));
      }
    });
    return outputs;
  }, inputs);
  const assigned = new Set(traced.graph.params.filter((p) => traced.graph.outputs.some((o) => o.name === `${ASSIGN_PREFIX}${p.arg.name}`)).map((p) => p.arg.name));
  // Persistent states written by the loss (ctx.setState) are assigned too, but frozen: not trained.
  return { ...traced, trained: traced.params.filter((p) => assigned.has(p.name) && !isState(p.name) && p.frozen !== true) };
}

