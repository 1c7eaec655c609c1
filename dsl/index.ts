// DSL · the public surface models import: tensors, tracing, randomness,
// initialisers, composites and layers.

export { DType } from './dtype.ts';
export type { Shape, Broadcast, BroadcastCheck, MatmulCheck, MatmulShape } from './shape.ts';
export { Tensor } from './tensor.ts';
export { Context, trace, spec, RNG_INPUT, type InputSpec, type Traced, type ModelOutputs } from './context.ts';
export { init, initParams, initValues, fans, type Init, type ParamSpec } from './init.ts';
export { foldIn, split, randomBits, uniform, normal, bernoulli, type Key } from './random.ts';
export * from './nn/functional.ts';
export * from './nn/rope.ts';
export * from './nn/layers.ts';
export { ShapeError } from '../compiler/ir/errors.ts';
export { grad, valueAndGrad, vjp, checkpoint } from './autodiff.ts';
export { adamw, clipGradNorm, globalNorm, emaUpdate, constantLr, warmupCosine, decaysByDefault, type AdamWOptions, type Schedule, type WarmupCosineOptions } from './optim.ts';
export { trainStep, STEP_INPUT, ASSIGN_PREFIX, OPTIM_M_PREFIX, OPTIM_V_PREFIX, EMA_PREFIX, type TrainStep, type TrainStepOptions, type LossOutputs } from './train-step.ts';
