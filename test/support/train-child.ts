// Test support · a training run in its own process, for the kill-and-resume test.
// argv: <checkpoint dir> <total steps> [pause-before-step]. Trains SiT-Tiny on fixed
// synthetic latents on the interpreter (float64, deterministic), checkpointing
// every 2 steps, and prints one JSON line per step: {"step": s, "loss": …}.
// With a pause step P, the checkpoint written at step P blocks halfway through
// its temp file (writeSafetensors' test hook) so the parent can SIGKILL it there.

import { DType, initParams, spec, trainStep, constantLr } from '../../dsl/index.ts';
import { SIT_TINY } from '../../models/configs.ts';
import { diffusionLoss } from '../../models/sit.ts';
import { trainLoop } from '../../runtime/train/loop.ts';
import { createStepRunner } from '../../runtime/train/step-runner.ts';

const [dir, totalText, pauseText] = process.argv.slice(2);
const total = Number(totalText);
const pause = pauseText === undefined ? undefined : Number(pauseText);
const marker = process.env.KILN_CHILD_PAUSE_MARKER;
const batch = 2;
const config = SIT_TINY;
const step = trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, config), { latents: spec([batch, config.tokens, config.channels]), labels: spec([batch], DType.I32) }, { schedule: constantLr(1e-3), clip: 1, ema: 0.9 });
const runner = await createStepRunner('cpu', step.graph, initParams(step.params, 7));
const per = batch * config.tokens * config.channels;
await trainLoop({
  label: 'child', runner, totalSteps: total, seed: 11, progress: null,
  batch: (s) => ({ latents: Float64Array.from({ length: per }, (_, i) => Math.sin(0.37 * i + 1.3 * s)), labels: [s % 10, (s + 3) % 10] }),
  checkpoint: { dir: dir!, every: 2, config: { config: config.name }, dtype: 'F64' },
  resume: true,
  after: async (s, outputs) => {
    console.log(JSON.stringify({ step: s + 1, loss: outputs.loss![0] }));
    // arm the writer's pause for the checkpoint this step is about to write
    if (pause !== undefined && marker && s + 1 === pause) process.env.KILN_TEST_CHECKPOINT_PAUSE = marker;
  },
});
