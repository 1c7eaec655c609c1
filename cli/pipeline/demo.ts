// CLI pipeline · the end-to-end demo on real Fashion-MNIST. In: a preset of
// step counts and sizes, a device, an output folder. Out, under that folder:
// the trained models (safetensors), the latent dataset, PNG grids of
// reconstructions and class-conditional samples with guidance, SVG loss plots,
// JSONL logs and metrics.json. Order: the classifier (teacher + gFD features)
// → MAETok-Mini stage 1 and 2 → encode → SiT-Mini → sample → evaluate.
// `compare` adds the paper's central comparison in miniature: a plain AE
// trained for the same steps, its latents' probe/GMM numbers and a SiT on them.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLASSIFIER_MINI } from '../../models/classifier.ts';
import { MAETOK_MINI, SIT_MINI } from '../../models/configs.ts';
import type { DiTConfig } from '../../models/sit.ts';
import { writeLatentDataset, type LatentDataset } from '../../runtime/data/latents.ts';
import { imageGrid, writePng } from '../../runtime/io/png.ts';
import { writeLossPlot } from '../../runtime/io/plot.ts';
import type { SamplerKind } from './diffusion.ts';
import type { StepDevice } from '../../runtime/train/step-runner.ts';
import { accuracy, classifierFeatures, trainClassifier } from './classifier.ts';
import { fashionMnist, type ImageSet } from './common.ts';
import { sampleLatents, trainDiffusion, type TrainedDiffusion } from './diffusion.ts';
import { decodeLatents, encodeDataset, encodeImages } from './encode.ts';
import { generatedFrechet, latentMetrics, reconstructionMetrics } from './evaluate.ts';
import { saveModel } from './model-file.ts';
import { trainTokenizer, type TokenizerVariant, type TrainedTokenizer } from './tokenizer.ts';

export interface DemoPreset {
  readonly trainImages: number;
  readonly testImages: number;
  /** Batch of the forward programs (encode, decode, features). */
  readonly forwardBatch: number;
  readonly classifier: { readonly steps: number; readonly batch: number };
  readonly tokenizer: { readonly steps: number; readonly batch: number; readonly learningRate: number; readonly stage2Steps: number; readonly perceptualWeight: number };
  readonly diffusion: { readonly steps: number; readonly batch: number; readonly learningRate: number };
  readonly sample: { readonly perClass: number; readonly steps: number; readonly sampler: SamplerKind; readonly scale: number; readonly interval: readonly [number, number]; readonly frechetSamples: number };
}

/** What the README's first command runs (measured to fit 20 minutes on 2 cores through lavapipe). */
export const DEMO_DEFAULT: DemoPreset = {
  trainImages: 1500,
  testImages: 500,
  forwardBatch: 250,
  classifier: { steps: 100, batch: 32 },
  tokenizer: { steps: 80, batch: 16, learningRate: 2e-3, stage2Steps: 0, perceptualWeight: 0.1 },
  diffusion: { steps: 160, batch: 16, learningRate: 1e-3 },
  sample: { perClass: 6, steps: 20, sampler: 'euler-maruyama', scale: 2.0, interval: [0, 0.75], frechetSamples: 180 },
};

/** CI's end-to-end check: every stage, a few steps each. */
export const DEMO_SHORT: DemoPreset = {
  trainImages: 256,
  testImages: 64,
  forwardBatch: 32,
  classifier: { steps: 4, batch: 16 },
  tokenizer: { steps: 4, batch: 4, learningRate: 2e-3, stage2Steps: 2, perceptualWeight: 0.1 },
  diffusion: { steps: 4, batch: 16, learningRate: 1e-3 },
  sample: { perClass: 2, steps: 3, sampler: 'euler-maruyama', scale: 2.0, interval: [0, 0.75], frechetSamples: 32 },
};

/** Longer training for the closing note's comparison (plain AE vs MAETok-Mini, a few hundred steps each). */
export const DEMO_LONG: DemoPreset = {
  ...DEMO_DEFAULT,
  tokenizer: { ...DEMO_DEFAULT.tokenizer, steps: 200 },
  diffusion: { ...DEMO_DEFAULT.diffusion, steps: 300 },
};

export const DEMO_PRESETS: Readonly<Record<string, DemoPreset>> = { default: DEMO_DEFAULT, short: DEMO_SHORT, long: DEMO_LONG };

export interface DemoOptions {
  readonly preset: DemoPreset;
  readonly device: StepDevice;
  readonly out: string;
  readonly seed: number;
  /** Also train a plain AE for the same steps and a SiT on its latents (paper Fig. 1 / Table 1a in miniature). */
  readonly compare?: boolean;
  readonly log?: (line: string) => void;
}

interface TokenizerReport {
  readonly variant: TokenizerVariant;
  readonly finalLoss: number;
  readonly psnr: number;
  readonly ssim: number;
  readonly linearProbe: number;
  readonly gmmNll: number;
  readonly latentMean: number;
  readonly latentStd: number;
  readonly diffusionFinalLoss: number;
  readonly gfd: number;
}

function tail(values: readonly number[], n = 20): number {
  const last = values.slice(-n);
  return last.reduce((a, b) => a + b, 0) / Math.max(1, last.length);
}

function normalised(latents: Float64Array, set: Pick<LatentDataset, 'mean' | 'std'>): Float64Array {
  return latents.map((v) => (v - set.mean) / set.std);
}

function grid(path: string, images: Float64Array, n: number, data: ImageSet, columns: number): void {
  const g = imageGrid(images, { n, channels: data.channels as 1 | 3, height: data.size, width: data.size, columns });
  writePng(path, g.pixels, g.width, g.height, g.channels);
}

export async function runDemo(options: DemoOptions): Promise<Record<string, unknown>> {
  const { preset, device, out, seed } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  mkdirSync(out, { recursive: true });
  const started = performance.now();
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    log(`kiln demo: ${name} …`);
    const result = await fn();
    timings[name] = (performance.now() - t0) / 1000;
    log(`kiln demo: ${name} done in ${timings[name]!.toFixed(1)} s`);
    return result;
  };

  const train = fashionMnist('train', preset.trainImages);
  const test = fashionMnist('t10k', preset.testImages);
  const per = train.channels * train.size * train.size;

  const classifier = await timed('classifier', () => trainClassifier(train, { config: CLASSIFIER_MINI, ...preset.classifier, seed, device, jsonl: join(out, 'logs/classifier.jsonl') }));
  saveModel(join(out, 'classifier.safetensors'), { kind: 'classifier', config: classifier.config, params: classifier.params, extra: {} }, classifier.shapes);
  const fb = preset.forwardBatch;
  const testFeatures = await classifierFeatures(classifier, test, test.images, test.count, device, fb);
  const classifierAccuracy = accuracy(testFeatures.logits, test.labels, test.classes);
  log(`kiln demo: classifier test accuracy ${(classifierAccuracy * 100).toFixed(1)} %`);

  const tokenizerRun = (variant: TokenizerVariant) => trainTokenizer(train, {
    config: MAETOK_MINI, variant, ...preset.tokenizer, seed, device, teacher: classifier,
    ema: emaDecay(preset.tokenizer.steps), checkpointDir: join(out, `checkpoints/${variant}`), checkpointEvery: Math.max(50, Math.ceil(preset.tokenizer.steps / 4)),
    jsonl: join(out, `logs/${variant}.jsonl`),
  });

  const report = async (variant: TokenizerVariant, tokenizer: TrainedTokenizer, diffusionConfig: DiTConfig): Promise<{ report: TokenizerReport; diffusion: TrainedDiffusion; latents: LatentDataset }> => {
    saveModel(join(out, `${variant}.safetensors`), { kind: 'tokenizer', config: tokenizer.config, params: tokenizer.params, extra: { variant } }, tokenizer.shapes);
    const recon = await timed(`${variant}: reconstructions`, () => reconstructionMetrics(tokenizer, test, test.count, device, fb));
    grid(join(out, `${variant}-reconstructions.png`), interleave(Float64Array.from(test.images.subarray(0, 32 * per)), recon.reconstructions, 32, per), 64, test, 16);
    const latents = await timed(`${variant}: encode`, () => encodeDataset(tokenizer, train, device, fb));
    writeLatentDataset(join(out, `${variant}-latents.safetensors`), latents);
    const dim = latents.tokens * latents.channels;
    const testLatents = await encodeImages(tokenizer, test.images, test.count, test, device, fb);
    const metrics = latentMetrics(normalised(Float64Array.from(latents.latents), latents), train.labels, normalised(testLatents, latents), test.labels, dim, train.classes);
    log(`kiln demo: ${variant}: PSNR ${recon.psnr.toFixed(2)} dB, SSIM ${recon.ssim.toFixed(3)}, linear probe ${(metrics.linearProbe * 100).toFixed(1)} %, GMM NLL ${metrics.gmmNll.toFixed(2)}`);
    const diffusion = await timed(`${variant}: ${diffusionConfig.name}`, () => trainDiffusion(latents, {
      config: diffusionConfig, ...preset.diffusion, seed, device, ema: emaDecay(preset.diffusion.steps),
      checkpointDir: join(out, `checkpoints/${variant}-${diffusionConfig.name}`), checkpointEvery: Math.max(100, Math.ceil(preset.diffusion.steps / 4)),
      jsonl: join(out, `logs/${variant}-diffusion.jsonl`),
    }));
    saveModel(join(out, `${variant}-diffusion.safetensors`), { kind: 'diffusion', config: diffusion.config, params: diffusion.params, extra: { mean: diffusion.mean, std: diffusion.std } }, diffusion.shapes);
    const { sample } = preset;
    const labels = Array.from({ length: 10 * sample.perClass }, (_, i) => Math.floor(i / sample.perClass));
    const guided = await timed(`${variant}: sample grid`, async () => decodeLatents(tokenizer, await sampleLatents(diffusion, {
      labels, sampler: sample.sampler, steps: sample.steps, guidance: { scale: sample.scale, interval: sample.interval }, seed, device,
    }), labels.length, device, fb));
    grid(join(out, `${variant}-samples.png`), transposeGrid(guided, 10, sample.perClass, per), labels.length, train, 10);
    // unguided samples for gFD, drawn in batches of the grid's size so its compiled program serves
    const fLabels = Array.from({ length: Math.ceil(sample.frechetSamples / labels.length) * labels.length }, (_, i) => i % 10);
    const generated = await timed(`${variant}: gFD samples`, async () => {
      const parts: Float64Array[] = [];
      for (let start = 0; start < fLabels.length; start += labels.length) {
        parts.push(await sampleLatents(diffusion, { labels: fLabels.slice(start, start + labels.length), sampler: sample.sampler, steps: sample.steps, guidance: { scale: 1 }, seed: seed + 1 + start, device }));
      }
      const all = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
      parts.forEach((p, i) => all.set(p, i * p.length));
      return decodeLatents(tokenizer, all, fLabels.length, device, fb);
    });
    const gfd = await generatedFrechet(classifier, test, generated.map((v) => Math.max(-1, Math.min(1, v))), fLabels.length, test.images, test.count, device, fb);
    log(`kiln demo: ${variant}: gFD (kiln classifier features, ${fLabels.length} samples, no guidance) ${gfd.toFixed(3)}`);
    return {
      report: {
        variant, finalLoss: tail(tokenizer.stage1.map((r) => r.values.loss!)), psnr: recon.psnr, ssim: recon.ssim,
        linearProbe: metrics.linearProbe, gmmNll: metrics.gmmNll, latentMean: latents.mean, latentStd: latents.std,
        diffusionFinalLoss: tail(diffusion.history.map((r) => r.values.loss!)), gfd,
      },
      diffusion,
      latents,
    };
  };

  const maetok = await timed('tokenizer (MAETok-Mini)', () => tokenizerRun('maetok'));
  const reports: TokenizerReport[] = [];
  const main = await report('maetok', maetok, SIT_MINI);
  reports.push(main.report);
  const plots: { name: string; values: number[] }[][] = [[
    { name: 'MAETok-Mini stage 1 loss', values: maetok.stage1.map((r) => r.values.loss!) },
    { name: 'MAETok-Mini reconstruction MSE', values: maetok.stage1.map((r) => r.values.rec!) },
  ]];
  if (options.compare) {
    const plain = await timed('tokenizer (plain AE)', () => tokenizerRun('plain-ae'));
    reports.push((await report('plain-ae', plain, SIT_MINI)).report);
    plots[0]!.push({ name: 'plain AE reconstruction MSE', values: plain.stage1.map((r) => r.values.rec!) });
  }
  writeLossPlot(join(out, 'tokenizer-loss.svg'), plots[0]!, { title: 'Tokenizer training (Fashion-MNIST)', logY: true, smoothing: 10, xLabel: 'step', yLabel: 'loss' });
  writeLossPlot(join(out, 'diffusion-loss.svg'), [{ name: `${SIT_MINI.name} velocity loss`, values: main.diffusion.history.map((r) => r.values.loss!) }], { title: `${SIT_MINI.name} on MAETok-Mini latents`, smoothing: 10, xLabel: 'step', yLabel: 'loss' });
  writeLossPlot(join(out, 'classifier-loss.svg'), [{ name: 'classifier cross-entropy', values: classifier.losses }], { title: 'Fashion-MNIST classifier (teacher + gFD features)', smoothing: 10, xLabel: 'step', yLabel: 'loss' });
  const metrics = {
    device, seed, preset, seconds: (performance.now() - started) / 1000, timings,
    classifier: { testAccuracy: classifierAccuracy, finalLoss: tail(classifier.losses) },
    tokenizers: reports,
    notes: 'gfd is the Fréchet distance in the pooled features of kiln\'s own Fashion-MNIST classifier (not FID); gmmNll in nats per sample on 16 PCA dims of normalised latents',
  };
  writeFileSync(join(out, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  log(`kiln demo: wrote ${out}/ (metrics.json, *-samples.png, *-reconstructions.png, *-loss.svg) in ${metrics.seconds.toFixed(0)} s`);
  return metrics;
}

/** EMA decay for a run of `steps`: an averaging window of ~1/10 of the run (0.9999 at SiT-XL's 4M steps would freeze a short run at its init). */
export function emaDecay(steps: number): number {
  return Math.min(0.9999, Math.max(0.9, 1 - 10 / Math.max(1, steps)));
}

/** Originals and reconstructions side by side: row pairs (original, reconstruction). */
function interleave(a: Float64Array, b: Float64Array, n: number, per: number): Float64Array {
  const out = new Float64Array(2 * n * per);
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / 16);
    const col = i % 16;
    out.set(a.subarray(i * per, (i + 1) * per), ((2 * row) * 16 + col) * per);
    out.set(b.subarray(i * per, (i + 1) * per), ((2 * row + 1) * 16 + col) * per);
  }
  return out;
}

/** Samples ordered class-major → one column per class, one row per draw. */
function transposeGrid(images: Float64Array, classes: number, perClass: number, per: number): Float64Array {
  const out = new Float64Array(images.length);
  for (let c = 0; c < classes; c++) for (let k = 0; k < perClass; k++) out.set(images.subarray((c * perClass + k) * per, (c * perClass + k + 1) * per), (k * classes + c) * per);
  return out;
}

