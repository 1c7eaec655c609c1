// CLI · the commands. Each declares its flags (parsed by cli/flags.ts, shown by
// --help) and composes models/, compiler/ and runtime/ through cli/pipeline/.
// Trained models travel between commands as safetensors model files that name
// their own config, so `encode` needs only the tokenizer file, `sample` the
// diffusion and tokenizer files.

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { compile } from '../compiler/compile.ts';
import { DType, spec, trace, trainStep, constantLr, type Traced } from '../dsl/index.ts';
import { CLASSIFIER_MINI, type ClassifierConfig } from '../models/classifier.ts';
import * as configs from '../models/configs.ts';
import { maetokDecode, maetokEncoder, maetokStage1Loss, type MAETokConfig } from '../models/maetok.ts';
import { diffusionLoss, scaledGuidanceVelocity, type DiTConfig } from '../models/sit.ts';
import { featureInputTeacher } from '../models/teacher.ts';
import { readFeatureFile, readLatentDataset, writeLatentDataset } from '../runtime/data/latents.ts';
import { imageGrid, writePng } from '../runtime/io/png.ts';
import { bestDevice, STEP_DEVICES, type StepDevice } from '../runtime/train/step-runner.ts';
import { flagHelp, InputError, parseFlags, positiveInt, required, UsageError, type FlagSpecs, type FlagValues } from './flags.ts';
export { parseFlags };
import { trainClassifier, type TrainedClassifier } from './pipeline/classifier.ts';
import { fashionMnist, imageFolder, type ImageSet } from './pipeline/common.ts';
import { DEMO_PRESETS, DEMO_SHORT, emaDecay, runDemo } from './pipeline/demo.ts';
import { sampleLatents, trainDiffusion, type SamplerKind, type TrainedDiffusion } from './pipeline/diffusion.ts';
import { decodeLatents, encodeDataset, encodeImages } from './pipeline/encode.ts';
import { generatedFrechet, latentMetrics, reconstructionMetrics } from './pipeline/evaluate.ts';
import { loadModel, saveModel } from './pipeline/model-file.ts';
import { trainTokenizer, type TokenizerVariant, type TrainedTokenizer } from './pipeline/tokenizer.ts';

export interface Command {
  readonly summary: string;
  readonly flags: FlagSpecs;
  run(values: FlagValues): Promise<void>;
}

const DEVICE: FlagSpecs = { device: { type: 'string', choices: [...STEP_DEVICES, 'best'], default: 'best', help: 'where programs run: webgpu (Dawn), cuda (NVIDIA driver), cpu (reference interpreter)' } };
const SEED: FlagSpecs = { seed: { type: 'number', default: 0, value: 'N', help: 'seed of initialisation, data order, augmentation and noise' } };
const DATA: FlagSpecs = {
  data: { type: 'string', default: 'fashion-mnist', value: 'SOURCE', help: 'fashion-mnist (the Debian package) or an image folder with class sub-folders' },
  images: { type: 'number', value: 'N', help: 'use the first N training images' },
};

async function device(values: FlagValues): Promise<StepDevice> {
  const d = values.device as string;
  return d === 'best' ? bestDevice() : (d as StepDevice);
}

function data(values: FlagValues, size = 28, channels: 1 | 3 = 1): ImageSet {
  const source = values.data as string;
  const limit = typeof values.images === 'number' ? values.images : Infinity;
  if (source === 'fashion-mnist') return fashionMnist('train', limit);
  const set = imageFolder(source, size, channels);
  return limit < set.count ? { ...set, count: limit, images: set.images.subarray(0, limit * channels * size * size), labels: set.labels.subarray(0, limit) } : set;
}

const DIFFUSION_CONFIGS: Record<string, DiTConfig> = {
  'sit-tiny': configs.SIT_TINY, 'sit-mini': configs.SIT_MINI, 'sit-s': configs.SIT_S, 'sit-b': configs.SIT_B, 'sit-l': configs.SIT_L, 'sit-xl': configs.SIT_XL,
  'lightningdit-tiny': configs.LIGHTNING_DIT_TINY, 'lightningdit-mini': configs.LIGHTNING_DIT_MINI, 'lightningdit-s': configs.LIGHTNING_DIT_S,
  'lightningdit-b': configs.LIGHTNING_DIT_B, 'lightningdit-l': configs.LIGHTNING_DIT_L, 'lightningdit-xl': configs.LIGHTNING_DIT_XL,
};
const TOKENIZER_CONFIGS: Record<string, MAETokConfig> = { 'maetok-tiny': configs.MAETOK_TINY, 'maetok-mini': configs.MAETOK_MINI, 'maetok-b': configs.MAETOK_B, 'maetok-b-512': configs.MAETOK_B_512 };

function tokenizerFile(path: string): TrainedTokenizer {
  const model = loadModel<MAETokConfig>(path, 'tokenizer');
  return { config: model.config, variant: (model.extra.variant as TokenizerVariant) ?? 'maetok', params: model.params, shapes: {}, stage1: [], stage2: [] };
}

function diffusionFile(path: string): TrainedDiffusion {
  const model = loadModel<DiTConfig>(path, 'diffusion');
  const { mean, std } = model.extra as { mean: number; std: number };
  if (typeof mean !== 'number' || typeof std !== 'number') throw new InputError(`${path}: the diffusion model file lacks its latent statistics (mean, std)`);
  return { config: model.config, params: model.params, shapes: {}, history: [], mean, std };
}

function classifierFile(path: string): TrainedClassifier {
  const model = loadModel<ClassifierConfig>(path, 'classifier');
  return { config: model.config, params: model.params, shapes: {}, losses: [], accuracies: [] };
}

function writeGrid(path: string, images: Float64Array, n: number, set: Pick<ImageSet, 'channels' | 'size'>, columns: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const g = imageGrid(images, { n, channels: set.channels as 1 | 3, height: set.size, width: set.size, columns });
  writePng(path, g.pixels, g.width, g.height, g.channels);
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  demo: {
    summary: 'train MAETok-Mini and SiT-Mini on Fashion-MNIST, sample with guidance, write grids, plots and metrics',
    flags: {
      ...DEVICE, ...SEED,
      out: { type: 'string', default: 'out', value: 'DIR', help: 'output folder' },
      short: { type: 'boolean', help: 'a few steps per stage (CI\'s end-to-end check; same as --preset short)' },
      preset: { type: 'string', default: 'default', choices: ['default', 'short', 'long'], help: 'step counts: default fits 20 minutes on 2 CPU cores through lavapipe; long trains 2× longer' },
      compare: { type: 'boolean', help: 'also train a plain AE for the same steps and a SiT on its latents (the paper\'s comparison)' },
    },
    async run(v) {
      await runDemo({ preset: v.short ? DEMO_SHORT : DEMO_PRESETS[v.preset as string]!, device: await device(v), out: v.out as string, seed: v.seed as number, compare: v.compare === true });
    },
  },

  'train-classifier': {
    summary: 'train the Fashion-MNIST classifier (the minis\' teacher and the gFD feature network)',
    flags: { ...DEVICE, ...SEED, ...DATA, steps: { type: 'number', default: 150, value: 'N', help: 'training steps' }, batch: { type: 'number', default: 64, value: 'N', help: 'batch size' }, out: { type: 'string', default: 'out/classifier.safetensors', value: 'PATH', help: 'model file to write' } },
    async run(v) {
      const set = data(v);
      const trained = await trainClassifier(set, { config: CLASSIFIER_MINI, steps: positiveInt('train-classifier', v, 'steps'), batch: positiveInt('train-classifier', v, 'batch'), seed: v.seed as number, device: await device(v) });
      mkdirSync(dirname(v.out as string), { recursive: true });
      saveModel(v.out as string, { kind: 'classifier', config: trained.config, params: trained.params, extra: {} }, trained.shapes);
      console.error(`wrote ${v.out}`);
    },
  },

  'train-tokenizer': {
    summary: 'train a MAETok tokenizer: stage 1 (mask modeling + aux decoders), then stage 2 (decoder fine-tuning)',
    flags: {
      ...DEVICE, ...SEED, ...DATA,
      config: { type: 'string', default: 'maetok-mini', choices: Object.keys(TOKENIZER_CONFIGS), help: 'tokenizer size' },
      variant: { type: 'string', default: 'maetok', choices: ['maetok', 'plain-ae'], help: 'plain-ae: no masking and no aux decoders' },
      teacher: { type: 'string', value: 'PATH', help: 'classifier model file for the teacher-feature targets and the perceptual loss (kiln train-classifier)' },
      features: { type: 'string', value: 'NAME=PATH,…', help: 'precomputed teacher features per aux target (safetensors "features" (count, tokens, dim), dataset order), e.g. dino=dinov2.safetensors' },
      steps: { type: 'number', default: 300, value: 'N', help: 'stage-1 steps' },
      'stage2-steps': { type: 'number', default: 50, value: 'N', help: 'stage-2 steps (0: none)' },
      batch: { type: 'number', default: 16, value: 'N', help: 'batch size' },
      lr: { type: 'number', default: 2e-3, value: 'X', help: 'peak learning rate (warm-up, cosine to lr/10)' },
      perceptual: { type: 'number', default: 0.1, value: 'W', help: 'teacher perceptual loss weight (0: off)' },
      adversarial: { type: 'number', value: 'STEP', help: 'turn the adversarial loss on from this step (off by default)' },
      out: { type: 'string', default: 'out/tokenizer.safetensors', value: 'PATH', help: 'model file to write (checkpoints go next to it)' },
      resume: { type: 'boolean', help: 'continue from the newest checkpoint' },
    },
    async run(v) {
      const config = TOKENIZER_CONFIGS[v.config as string]!;
      const set = data(v, config.imageSize, config.imageChannels as 1 | 3);
      const features: Record<string, Float32Array> = {};
      for (const pair of typeof v.features === 'string' ? v.features.split(',') : []) {
        const [target, path] = pair.split('=');
        const aux = config.auxTargets.find((t) => t.name === target);
        if (!aux || !path) throw new UsageError(`kiln train-tokenizer: --features takes NAME=PATH pairs with NAME one of ${config.auxTargets.map((t) => t.name).join(', ')}; got "${pair}"`);
        features[aux.name] = readFeatureFile(path, { count: set.count, tokens: (config.imageSize / config.patch) ** 2, dim: aux.dim });
      }
      const needsTeacher = config.auxTargets.some((t) => t.name !== 'hog' && !features[t.name]) && v.variant !== 'plain-ae';
      if (needsTeacher && !v.teacher) throw new UsageError(`kiln train-tokenizer: ${config.name} has teacher-feature targets; pass --teacher out/classifier.safetensors (from kiln train-classifier)`);
      const out = v.out as string;
      const steps = positiveInt('train-tokenizer', v, 'steps');
      const trained = await trainTokenizer(set, {
        features,
        config, variant: v.variant as TokenizerVariant, steps, batch: positiveInt('train-tokenizer', v, 'batch'), learningRate: v.lr as number, seed: v.seed as number,
        device: await device(v), ...(v.teacher ? { teacher: classifierFile(v.teacher as string) } : {}), perceptualWeight: v.teacher ? (v.perceptual as number) : 0,
        ...(typeof v.adversarial === 'number' ? { adversarialStart: v.adversarial } : {}),
        stage2Steps: v['stage2-steps'] as number, ema: emaDecay(steps),
        checkpointDir: join(dirname(out), 'checkpoints', 'tokenizer'), resume: v.resume === true, jsonl: join(dirname(out), 'logs', 'tokenizer.jsonl'),
      });
      mkdirSync(dirname(out), { recursive: true });
      saveModel(out, { kind: 'tokenizer', config: trained.config, params: trained.params, extra: { variant: trained.variant } }, trained.shapes);
      console.error(`wrote ${out}`);
    },
  },

  encode: {
    summary: 'encode a dataset (and its mirror images) to a latent dataset file with μ, σ',
    flags: { ...DEVICE, ...DATA, tokenizer: { type: 'string', value: 'PATH', help: 'tokenizer model file (required)' }, out: { type: 'string', default: 'out/latents.safetensors', value: 'PATH', help: 'latent dataset to write' } },
    async run(v) {
      const tokenizer = tokenizerFile(required('encode', v, 'tokenizer'));
      const set = data(v, tokenizer.config.imageSize, tokenizer.config.imageChannels as 1 | 3);
      const latents = await encodeDataset(tokenizer, set, await device(v));
      mkdirSync(dirname(v.out as string), { recursive: true });
      writeLatentDataset(v.out as string, latents);
      console.error(`wrote ${v.out}: ${latents.count} × ${latents.tokens} × ${latents.channels} latents, μ ${latents.mean.toFixed(4)}, σ ${latents.std.toFixed(4)}`);
    },
  },

  'train-diffusion': {
    summary: 'train SiT or LightningDiT on a latent dataset',
    flags: {
      ...DEVICE, ...SEED,
      latents: { type: 'string', value: 'PATH', help: 'latent dataset (kiln encode; required)' },
      config: { type: 'string', default: 'sit-mini', choices: Object.keys(DIFFUSION_CONFIGS), help: 'model size and variant' },
      steps: { type: 'number', default: 600, value: 'N', help: 'training steps' },
      batch: { type: 'number', default: 64, value: 'N', help: 'batch size' },
      lr: { type: 'number', default: 1e-3, value: 'X', help: 'learning rate (constant)' },
      out: { type: 'string', default: 'out/diffusion.safetensors', value: 'PATH', help: 'model file to write (checkpoints go next to it)' },
      resume: { type: 'boolean', help: 'continue from the newest checkpoint' },
    },
    async run(v) {
      const latents = readLatentDataset(required('train-diffusion', v, 'latents'));
      const steps = positiveInt('train-diffusion', v, 'steps');
      const out = v.out as string;
      const trained = await trainDiffusion(latents, {
        config: DIFFUSION_CONFIGS[v.config as string]!, steps, batch: positiveInt('train-diffusion', v, 'batch'), learningRate: v.lr as number, seed: v.seed as number,
        device: await device(v), ema: emaDecay(steps), checkpointDir: join(dirname(out), 'checkpoints', 'diffusion'), resume: v.resume === true, jsonl: join(dirname(out), 'logs', 'diffusion.jsonl'),
      });
      mkdirSync(dirname(out), { recursive: true });
      saveModel(out, { kind: 'diffusion', config: trained.config, params: trained.params, extra: { mean: trained.mean, std: trained.std } }, trained.shapes);
      console.error(`wrote ${out}`);
    },
  },

  sample: {
    summary: 'sample class-conditional images with guidance and write a PNG grid (one column per class)',
    flags: {
      ...DEVICE, ...SEED,
      diffusion: { type: 'string', value: 'PATH', help: 'diffusion model file (required)' },
      tokenizer: { type: 'string', value: 'PATH', help: 'tokenizer model file (required)' },
      'per-class': { type: 'number', default: 8, value: 'N', help: 'samples per class' },
      sampler: { type: 'string', default: 'euler-maruyama', choices: ['euler', 'heun', 'euler-maruyama'], help: 'sampler (spec §3.4)' },
      steps: { type: 'number', default: 25, value: 'K', help: 'sampling steps' },
      cfg: { type: 'number', default: 2.0, value: 'W', help: 'classifier-free guidance scale (1: none)' },
      interval: { type: 'string', default: '0,0.75', value: 'LOW,HIGH', help: 'guide where low ≤ t ≤ high (t = 1 is noise)' },
      shift: { type: 'number', default: 1, value: 'S', help: 'timestep shift of the ODE samplers (LightningDiT: 0.3)' },
      out: { type: 'string', default: 'out/samples.png', value: 'PATH', help: 'PNG grid to write' },
    },
    async run(v) {
      const model = diffusionFile(required('sample', v, 'diffusion'));
      const tokenizer = tokenizerFile(required('sample', v, 'tokenizer'));
      const interval = String(v.interval).split(',').map(Number);
      if (interval.length !== 2 || interval.some((x) => !Number.isFinite(x)) || interval[0]! > interval[1]!) throw new UsageError(`kiln sample: --interval must be LOW,HIGH with LOW ≤ HIGH, got "${v.interval}"`);
      const perClass = positiveInt('sample', v, 'per-class');
      const classes = model.config.classes;
      const labels = Array.from({ length: classes * perClass }, (_, i) => i % classes);
      const d = await device(v);
      const latents = await sampleLatents(model, { labels, sampler: v.sampler as SamplerKind, steps: positiveInt('sample', v, 'steps'), guidance: { scale: v.cfg as number, interval: interval as [number, number] }, shift: v.shift as number, seed: v.seed as number, device: d });
      const images = await decodeLatents(tokenizer, latents, labels.length, d);
      writeGrid(v.out as string, images, labels.length, { channels: tokenizer.config.imageChannels, size: tokenizer.config.imageSize }, classes);
      console.error(`wrote ${v.out}`);
    },
  },

  eval: {
    summary: 'reconstruction PSNR/SSIM, linear probe and GMM NLL of the latents, and gFD of samples (kiln classifier features)',
    flags: {
      ...DEVICE, ...SEED,
      tokenizer: { type: 'string', value: 'PATH', help: 'tokenizer model file (required)' },
      classifier: { type: 'string', value: 'PATH', help: 'classifier model file (for gFD)' },
      diffusion: { type: 'string', value: 'PATH', help: 'diffusion model file (adds gFD)' },
      images: { type: 'number', default: 2000, value: 'N', help: 'training images for the probe and GMM' },
      test: { type: 'number', default: 1000, value: 'N', help: 'test images' },
      samples: { type: 'number', default: 500, value: 'N', help: 'generated images for gFD' },
      out: { type: 'string', value: 'PATH', help: 'also write the metrics as JSON here' },
    },
    async run(v) {
      const tokenizer = tokenizerFile(required('eval', v, 'tokenizer'));
      const d = await device(v);
      const train = fashionMnist('train', v.images as number);
      const test = fashionMnist('t10k', v.test as number);
      const recon = await reconstructionMetrics(tokenizer, test, test.count, d);
      const trainSet = await encodeDataset(tokenizer, train, d);
      const testLatents = await encodeImages(tokenizer, test.images, test.count, test, d);
      const norm = (x: Float64Array | Float32Array) => Float64Array.from(x, (h) => (h - trainSet.mean) / trainSet.std);
      const latent = latentMetrics(norm(trainSet.latents), train.labels, norm(testLatents), test.labels, trainSet.tokens * trainSet.channels, train.classes);
      const result: Record<string, unknown> = { psnr: recon.psnr, ssim: recon.ssim, linearProbe: latent.linearProbe, gmmNll: latent.gmmNll };
      if (v.diffusion) {
        if (!v.classifier) throw new UsageError('kiln eval: gFD needs --classifier (its features are the space of the distance)');
        const model = diffusionFile(v.diffusion as string);
        const n = positiveInt('eval', v, 'samples');
        const labels = Array.from({ length: n }, (_, i) => i % model.config.classes);
        const generated = await decodeLatents(tokenizer, await sampleLatents(model, { labels, sampler: 'euler-maruyama', steps: 25, guidance: { scale: 1 }, seed: v.seed as number, device: d }), n, d);
        result.gfd = await generatedFrechet(classifierFile(v.classifier as string), test, generated.map((x) => Math.max(-1, Math.min(1, x))), n, test.images, test.count, d);
      }
      console.log(JSON.stringify(result, null, 2));
      if (v.out) writeFileSync(v.out as string, `${JSON.stringify(result, null, 2)}\n`);
    },
  },

  compile: {
    summary: 'compile a model\'s program (train step or inference) for webgpu or cuda; report kernels; optionally emit a typed .ts module',
    flags: {
      model: { type: 'string', default: 'sit-mini', choices: [...Object.keys(DIFFUSION_CONFIGS), ...Object.keys(TOKENIZER_CONFIGS)], help: 'model config' },
      program: { type: 'string', default: 'train', choices: ['train', 'velocity', 'encode', 'decode'], help: 'which program (velocity: diffusion models; encode/decode: tokenizers)' },
      batch: { type: 'number', default: 8, value: 'N', help: 'batch size' },
      target: { type: 'string', default: 'webgpu', choices: ['webgpu', 'cuda'], help: 'code generation target' },
      gemm: { type: 'string', default: 'kernel', choices: ['kernel', 'library'], help: 'cuda: float dots as generated kernels, or as cuBLASLt GEMM calls (library)' },
      emit: { type: 'string', value: 'PATH', help: 'write the Program as a typed .ts module' },
      json: { type: 'string', value: 'PATH', help: 'write the Program as JSON' },
    },
    async run(v) {
      const name = v.model as string;
      const batch = positiveInt('compile', v, 'batch');
      const t0 = performance.now();
      const traced = programFor(name, v.program as string, batch);
      const t1 = performance.now();
      if (v.gemm === 'library' && v.target !== 'cuda') throw new UsageError('kiln compile: --gemm library needs --target cuda (cuBLASLt runs only on CUDA)');
      const { program } = compile(traced.graph, { target: v.target as 'webgpu' | 'cuda', ...(v.target === 'cuda' ? { gemm: v.gemm as 'kernel' | 'library' } : {}) });
      const t2 = performance.now();
      const distinct = new Set(program.kernels.map((k) => k.source.replace(/\/\/.*$/gm, ''))).size;
      const gemms = program.kernels.filter((k) => k.gemm).length;
      console.log(`${name} ${v.program} (batch ${batch}) → ${v.target}: ${traced.graph.nodes.length} graph nodes, ${program.kernels.length} kernels (${distinct} distinct${gemms ? `, ${gemms} cuBLASLt GEMM calls` : ''}), ${program.buffers.length} buffers; trace ${((t1 - t0) / 1000).toFixed(1)} s, compile ${((t2 - t1) / 1000).toFixed(1)} s`);
      if (v.json) writeFileSync(v.json as string, JSON.stringify(program, (key, value) => (key === 'ir' ? undefined : value)));
      if (v.emit) {
        const { writeProgramModule } = await import('../compiler/emit.ts');
        writeProgramModule(v.emit as string, program, { name: `${name}-${v.program}` });
        console.log(`wrote ${v.emit}`);
      }
    },
  },
};

/** The Graph of a named model's program, at full size where the name says so. */
function programFor(name: string, which: string, batch: number): Traced {
  const dit = DIFFUSION_CONFIGS[name];
  if (dit) {
    const x = spec([batch, dit.tokens, dit.channels]);
    if (which === 'train') return trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, dit), { latents: x, labels: spec([batch], DType.I32) }, { schedule: constantLr(1e-4), clip: 1.0, ema: 0.9999 });
    if (which === 'velocity') return trace((ctx, { x: xs, t, y, scale }) => scaledGuidanceVelocity(ctx, xs, t, y, scale, dit), { x, t: spec([batch]), y: spec([batch], DType.I32), scale: spec([] as const) });
    throw new UsageError(`kiln compile: a diffusion model has the programs train and velocity, not ${which}`);
  }
  const tok = TOKENIZER_CONFIGS[name]!;
  const images = spec([batch, tok.imageChannels, tok.imageSize, tok.imageSize]);
  if (which === 'encode') return trace((ctx, { x }) => maetokEncoder(ctx, x, tok), { x: images });
  if (which === 'decode') return trace((ctx, { h }) => maetokDecode(ctx, h, tok), { h: spec([batch, tok.latentTokens, tok.latentChannels]) });
  if (which === 'train') {
    const n = (tok.imageSize / tok.patch) ** 2;
    const teachers = Object.fromEntries(tok.auxTargets.filter((t) => t.name !== 'hog').map((t) => [t.name, featureInputTeacher(t.name, n, t.dim)]));
    return trainStep((ctx, { images: x }) => maetokStage1Loss(ctx, x, tok, { teachers }), { images }, { schedule: constantLr(1e-4), clip: 1.0, ema: 0.9999 });
  }
  throw new UsageError(`kiln compile: a tokenizer has the programs train, encode and decode, not ${which}`);
}

export function commandHelp(name: string, command: Command): string {
  return `usage: kiln ${name} [flags]\n\n${command.summary}\n\nflags:\n${flagHelp(command.flags)}\n  --help${' '.repeat(4)}show this text`;
}

