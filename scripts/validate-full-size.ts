// Scripts · the full-size compile check. In: the training-step programs of
// SiT-XL, LightningDiT-XL and MAETok-B stage 1 at their real sizes. Out: for each,
// the time to trace + differentiate, to compile for WebGPU (the local adapter's
// own limits and features) and for CUDA, and whether every distinct generated
// kernel passes Dawn's WGSL compiler and nvcc with zero errors and zero warnings;
// a table on stdout, progress on stderr, exit status 1 on any failure.
// Run: XDG_RUNTIME_DIR=/tmp/xdg npx tsx scripts/validate-full-size.ts [--only sit-xl,lightningdit-xl,maetok-b]
//        [--json out.json] [--nvcc-sample N] [--skip-nvcc]
//
// Kernels repeated at every depth print identical sources apart from their
// comments (which name the kernel and its buffers) and, for CUDA, the entry
// name; each distinct source is validated once. test/compiler/full-size-compile.test.ts
// runs this script with --nvcc-sample to stay inside the CI budget.

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { compile, type CompileOptions } from '../compiler/compile.ts';
import { compileToPtx, findNvcc, missingNvccMessage, nvccVersion, type KernelSource } from '../compiler/codegen/ptx.ts';
import type { ProgramKernel } from '../compiler/program.ts';
import { DType, constantLr, spec, trainStep, warmupCosine, type TrainStep } from '../dsl/index.ts';
import { LIGHTNING_DIT_XL, MAETOK_B, SIT_XL } from '../models/configs.ts';
import { lightningDitLoss } from '../models/lightningdit.ts';
import { imageTokens, maetokStage1Loss } from '../models/maetok.ts';
import { diffusionInputs, diffusionLoss } from '../models/sit.ts';
import { featureInputTeacher, patchTeacher } from '../models/teacher.ts';
import { formatWgslMessages, validateWgsl, webgpuDevice } from '../runtime/webgpu/device.ts';

// ---- the programs ----------------------------------------------------------------------

export type ProgramId = 'sit-xl' | 'lightningdit-xl' | 'maetok-b';

export interface FullSizeProgram {
  readonly id: ProgramId;
  readonly title: string;
  readonly batch: number;
  /** What the step contains, for the report. */
  readonly setting: string;
  readonly build: () => TrainStep;
}

/**
 * Batch 32 for the diffusion transformers: a per-device share of the reference's global 256
 * (8 devices), and the largest power of two whose biggest activation fits WebGPU's
 * maxStorageBufferBindingSize of 128 MiB (lavapipe's too): the MLP hidden state
 * 32·128·4608 f32 is 72 MiB, at batch 64 it is 144 MiB and compile() rejects the program.
 */
const DIT_BATCH = 32;
/** MAETok-B at 256²: its largest activation, the attention scores 8·12·385² f32, is 54 MiB. */
const MAETOK_BATCH = 8;

export const FULL_SIZE_PROGRAMS: readonly FullSizeProgram[] = [
  {
    id: 'sit-xl',
    title: SIT_XL.name,
    batch: DIT_BATCH,
    setting: 'latents 128×32, uniform t, velocity MSE, AdamW lr 1e-4 β (0.9, 0.999) eps 1e-8 wd 0, clip 1.0, EMA 0.9999 (spec §3.3)',
    build: () =>
      trainStep((ctx, { latents, labels }) => diffusionLoss(ctx, latents, labels, SIT_XL, { timeSampling: 'uniform' }), diffusionInputs(SIT_XL, DIT_BATCH), {
        schedule: constantLr(1e-4),
        adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
        clip: 1.0,
        ema: 0.9999,
      }),
  },
  {
    id: 'lightningdit-xl',
    title: LIGHTNING_DIT_XL.name,
    batch: DIT_BATCH,
    setting: 'latents 128×32, logit-normal t, MSE + cosine loss, AdamW lr 2e-4 β (0.9, 0.95) wd 0, no clip, EMA 0.9999 (spec §4.2)',
    build: () =>
      trainStep((ctx, { latents, labels }) => lightningDitLoss(ctx, latents, labels, LIGHTNING_DIT_XL), diffusionInputs(LIGHTNING_DIT_XL, DIT_BATCH), {
        schedule: constantLr(2e-4),
        adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 },
        ema: 0.9999,
      }),
  },
  {
    id: 'maetok-b',
    title: `${MAETOK_B.name} stage 1`,
    batch: MAETOK_BATCH,
    setting:
      '256² RGB, mask 40–60%, rec MSE + HOG + DINOv2/SigLIP cosine (features as inputs) + perceptual (frozen patch-MLP stand-in for LPIPS, weight 1), ' +
      'AdamW warm-up + cosine 2e-4 β (0.9, 0.95) wd 1e-4, clip 1.0, EMA 0.9999 (spec §2.7–2.8); no GAN term',
    build: () => {
      const tokens = imageTokens(MAETOK_B);
      const dim = (name: string) => MAETOK_B.auxTargets.find((t) => t.name === name)!.dim;
      const teachers = { dino: featureInputTeacher('dino', tokens, dim('dino')), clip: featureInputTeacher('clip', tokens, dim('clip')) };
      const perceptual = { teacher: patchTeacher('lpips', MAETOK_B.patch, 512), weight: 1 };
      return trainStep((ctx, { images }) => maetokStage1Loss(ctx, images, MAETOK_B, { teachers, perceptual }), { images: spec([MAETOK_BATCH, MAETOK_B.imageChannels, MAETOK_B.imageSize, MAETOK_B.imageSize] as const, DType.F32) }, {
        schedule: warmupCosine({ base: 2e-4, warmupSteps: 5000, totalSteps: 500_000, final: 2e-5 }),
        adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 1e-4 },
        clip: 1.0,
        ema: 0.9999,
      });
    },
  },
];

// ---- distinct kernels ----------------------------------------------------------------

export interface DistinctKernel {
  /** The first kernel with this source; it is the one validated. */
  readonly kernel: ProgramKernel;
  /** How many kernels of the program share the source. */
  readonly copies: number;
}

/**
 * Kernels grouped by source with `//` comments removed (they name the kernel and its buffers)
 * and the entry name replaced (CUDA entries carry the kernel's index; WGSL's is always `main`).
 */
export function distinctKernels(kernels: readonly ProgramKernel[]): DistinctKernel[] {
  const groups = new Map<string, { kernel: ProgramKernel; copies: number }>();
  for (const kernel of kernels) {
    const key = kernel.source.replace(/\/\/.*$/gm, '').replaceAll(kernel.entryPoint, '\u0000');
    const group = groups.get(key);
    if (group) group.copies++;
    else groups.set(key, { kernel, copies: 1 });
  }
  return [...groups.values()];
}

/** A kernel's kind: its name without the index (`k12_matmul_add` → `matmul_add`); every fused group is `group`. */
export function kernelKind(name: string): string {
  return name.replace(/^k\d+_/, '').replace(/^group_\d+x$/, 'group');
}

/**
 * A deterministic sample of at most `cap` distinct kernels: the first of every kind, then
 * further ones round-robin over the kinds in program order, so rare kinds are never crowded out.
 */
export function sampleByKind(distinct: readonly DistinctKernel[], cap: number): DistinctKernel[] {
  const byKind = new Map<string, DistinctKernel[]>();
  for (const d of distinct) {
    const kind = kernelKind(d.kernel.name);
    byKind.set(kind, [...(byKind.get(kind) ?? []), d]);
  }
  const picked: DistinctKernel[] = [];
  for (let round = 0; picked.length < Math.min(cap, distinct.length); round++) {
    for (const list of byKind.values()) if (list[round] && picked.length < cap) picked.push(list[round]!);
  }
  return picked;
}

// ---- checks ------------------------------------------------------------------------------

export interface Failure {
  readonly program: ProgramId;
  readonly stage: 'trace' | 'webgpu compile' | 'wgsl' | 'cuda compile' | 'nvcc';
  /** The kernel (a representative of its distinct source), when one is to blame. */
  readonly kernel?: string;
  readonly message: string;
}

export type Log = (line: string) => void;

/** Validates each kernel's WGSL on the shared device; a failure is any message at all (errors, warnings, infos). */
export async function validateWgslKernels(program: ProgramId, kernels: readonly ProgramKernel[], log: Log = () => {}): Promise<Failure[]> {
  const failures: Failure[] = [];
  let reported = performance.now();
  for (const [i, kernel] of kernels.entries()) {
    const messages = await validateWgsl(kernel.source);
    if (messages.length > 0) failures.push({ program, stage: 'wgsl', kernel: kernel.name, message: formatWgslMessages(kernel.source, messages) });
    if (performance.now() - reported > 10_000 || i + 1 === kernels.length) {
      log(`${program}: WGSL ${i + 1}/${kernels.length} validated, ${failures.length} failing`);
      reported = performance.now();
    }
  }
  return failures;
}

/** Distinct sources per nvcc run: nvcc's start-up (~1 s of header preprocessing) is paid once per chunk. */
const NVCC_CHUNK = 64;

/**
 * Compiles each kernel's CUDA source with nvcc (-Werror all-warnings) in chunks of NVCC_CHUNK
 * per translation unit, `jobs` nvcc processes at a time. A failing chunk is bisected until
 * every failing kernel is named on its own.
 */
export async function compileCudaKernels(program: ProgramId, kernels: readonly ProgramKernel[], options: { readonly jobs?: number; readonly log?: Log } = {}): Promise<Failure[]> {
  const log = options.log ?? (() => {});
  const sources: KernelSource[] = kernels.map((k) => ({ entry: k.entryPoint, source: k.source }));
  const chunks: KernelSource[][] = [];
  for (let i = 0; i < sources.length; i += NVCC_CHUNK) chunks.push(sources.slice(i, i + NVCC_CHUNK));
  const failures: Failure[] = [];
  const check = async (chunk: readonly KernelSource[]): Promise<void> => {
    try {
      await compileToPtx(chunk, { jobs: 1 });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (chunk.length === 1) {
        failures.push({ program, stage: 'nvcc', kernel: chunk[0]!.entry, message });
        return;
      }
      const half = Math.ceil(chunk.length / 2);
      await check(chunk.slice(0, half));
      await check(chunk.slice(half));
    }
  };
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      await check(chunk);
      done += chunk.length;
      log(`${program}: nvcc ${done}/${sources.length} compiled, ${failures.length} failing`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs ?? availableParallelism(), chunks.length)) }, worker));
  return failures;
}

// ---- one program --------------------------------------------------------------------------

export interface TargetReport {
  readonly compileSeconds: number;
  readonly kernels: number;
  readonly distinct: number;
  /** Kernel kinds (kernelKind) among the distinct sources. */
  readonly kinds: number;
  /** Distinct sources validated: all of them, or a per-kind sample (--nvcc-sample). */
  readonly validated: number;
  readonly validatedKinds: number;
  readonly validateSeconds: number;
}

export interface ProgramReport {
  readonly id: ProgramId;
  readonly title: string;
  readonly batch: number;
  readonly setting: string;
  readonly nodes: number;
  readonly traceSeconds: number;
  readonly webgpu?: TargetReport;
  readonly cuda?: TargetReport;
  readonly failures: readonly Failure[];
}

export interface CheckOptions {
  /** compile() options of the WebGPU target: the live device's compileOptions(). */
  readonly webgpu: CompileOptions;
  /** Which distinct kernels to validate (default all). */
  readonly select?: (distinct: readonly DistinctKernel[], target: 'webgpu' | 'cuda') => readonly DistinctKernel[];
  /** Skip nvcc (the CUDA program is still compiled and counted). */
  readonly skipNvcc?: boolean;
  readonly jobs?: number;
  readonly log?: Log;
}

const kindsOf = (kernels: readonly ProgramKernel[]) => new Set(kernels.map((k) => kernelKind(k.name))).size;

const seconds = (since: number) => (performance.now() - since) / 1000;

function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** Traces, differentiates and compiles one program for both targets and validates its kernels. */
export async function checkProgram(program: FullSizeProgram, options: CheckOptions): Promise<ProgramReport> {
  const log = options.log ?? (() => {});
  const select = options.select ?? ((distinct) => distinct);
  const failures: Failure[] = [];
  const base = { id: program.id, title: program.title, batch: program.batch, setting: program.setting };

  log(`${program.id}: tracing and differentiating (batch ${program.batch})`);
  let started = performance.now();
  let step: TrainStep;
  try {
    step = program.build();
  } catch (error) {
    return { ...base, nodes: 0, traceSeconds: seconds(started), failures: [{ program: program.id, stage: 'trace', message: errorText(error) }] };
  }
  const traceSeconds = seconds(started);
  const nodes = step.graph.nodes.length;
  log(`${program.id}: ${nodes} nodes, ${step.params.length} parameter tensors in ${traceSeconds.toFixed(1)} s`);

  const target = async (which: 'webgpu' | 'cuda'): Promise<TargetReport | undefined> => {
    log(`${program.id}: compiling for ${which}`);
    started = performance.now();
    let kernels: readonly ProgramKernel[];
    try {
      kernels = compile(step.graph, which === 'webgpu' ? { ...options.webgpu, target: 'webgpu' } : { target: 'cuda' }).program.kernels;
    } catch (error) {
      failures.push({ program: program.id, stage: `${which} compile`, message: errorText(error) });
      return undefined;
    }
    const compileSeconds = seconds(started);
    const distinct = distinctKernels(kernels);
    const chosen = select(distinct, which).map((d) => d.kernel);
    log(`${program.id}: ${which}: ${kernels.length} kernels, ${distinct.length} distinct sources in ${compileSeconds.toFixed(1)} s; validating ${chosen.length}`);
    started = performance.now();
    if (which === 'webgpu') failures.push(...(await validateWgslKernels(program.id, chosen, log)));
    else if (!options.skipNvcc) failures.push(...(await compileCudaKernels(program.id, chosen, { ...(options.jobs ? { jobs: options.jobs } : {}), log })));
    const checked = which === 'cuda' && options.skipNvcc ? [] : chosen;
    return {
      compileSeconds,
      kernels: kernels.length,
      distinct: distinct.length,
      kinds: kindsOf(distinct.map((d) => d.kernel)),
      validated: checked.length,
      validatedKinds: kindsOf(checked),
      validateSeconds: seconds(started),
    };
  };
  const webgpu = await target('webgpu');
  const cuda = await target('cuda');
  return { ...base, nodes, traceSeconds, ...(webgpu ? { webgpu } : {}), ...(cuda ? { cuda } : {}), failures };
}

// ---- report -------------------------------------------------------------------------------

/** The per-program table (a markdown table, so it pastes into notes). */
export function formatTable(reports: readonly ProgramReport[]): string {
  const header = ['program', 'batch', 'nodes', 'trace+grad s', 'WebGPU compile s', 'kernels', 'distinct', 'WGSL validated', 'WGSL validate s', 'CUDA compile s', 'kernels', 'distinct', 'nvcc compiled', 'nvcc s', 'failures'];
  const fixed = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(1));
  const count = (x: number | undefined) => (x === undefined ? '—' : String(x));
  const rows = reports.map((r) => [
    r.title, String(r.batch), String(r.nodes), fixed(r.traceSeconds),
    fixed(r.webgpu?.compileSeconds), count(r.webgpu?.kernels), count(r.webgpu?.distinct), count(r.webgpu?.validated), fixed(r.webgpu?.validateSeconds),
    fixed(r.cuda?.compileSeconds), count(r.cuda?.kernels), count(r.cuda?.distinct), count(r.cuda?.validated), fixed(r.cuda?.validateSeconds),
    String(r.failures.length),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Every failure with the kernel it names and the compiler's message (quoting the source lines). */
export function formatFailures(reports: readonly ProgramReport[]): string {
  return reports
    .flatMap((r) => r.failures)
    .map((f) => `FAIL ${f.program} ${f.stage}${f.kernel ? ` ${f.kernel}` : ''}:\n${f.message}`)
    .join('\n\n');
}

// ---- command line -------------------------------------------------------------------------

/** What --json writes. */
export interface FullSizeResult {
  readonly adapter: string;
  readonly nvcc: string;
  readonly reports: readonly ProgramReport[];
}

interface Arguments {
  readonly only?: readonly ProgramId[];
  readonly json?: string;
  /** Send nvcc at most this many distinct sources per program, sampled per kind (sampleByKind); default all. */
  readonly nvccSample?: number;
  /** Compile for CUDA but run no nvcc (for machines without the toolkit). */
  readonly skipNvcc: boolean;
}

const USAGE = 'validate-full-size.ts [--only sit-xl,lightningdit-xl,maetok-b] [--json out.json] [--nvcc-sample N] [--skip-nvcc]';

function parseArguments(argv: readonly string[]): Arguments {
  const ids = FULL_SIZE_PROGRAMS.map((p) => p.id);
  let only: ProgramId[] | undefined;
  let json: string | undefined;
  let nvccSample: number | undefined;
  let skipNvcc = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (flag === '--only' && value) {
      only = value.split(',').map((s) => s.trim()) as ProgramId[];
      const unknown = only.filter((id) => !ids.includes(id));
      if (unknown.length) throw new Error(`--only: unknown program(s) ${unknown.join(', ')} (known: ${ids.join(', ')})`);
      i++;
    } else if (flag === '--json' && value) {
      json = value;
      i++;
    } else if (flag === '--nvcc-sample' && value && /^[1-9]\d*$/.test(value)) {
      nvccSample = Number(value);
      i++;
    } else if (flag === '--skip-nvcc') {
      skipNvcc = true;
    } else {
      throw new Error(`unknown or incomplete argument "${flag}"; usage: ${USAGE}`);
    }
  }
  return { ...(only ? { only } : {}), ...(json ? { json } : {}), ...(nvccSample ? { nvccSample } : {}), skipNvcc };
}

async function main(): Promise<number> {
  const args = parseArguments(process.argv.slice(2));
  const begun = performance.now();
  const log: Log = (line) => console.error(`[${seconds(begun).toFixed(1).padStart(7)} s] ${line}`);
  const nvcc = args.skipNvcc ? undefined : findNvcc();
  if (!nvcc && !args.skipNvcc) {
    console.error(`${missingNvccMessage()} (or pass --skip-nvcc)`);
    return 1;
  }
  const device = await webgpuDevice();
  log(`WebGPU adapter: ${device.adapterDescription}; compile options ${JSON.stringify(device.compileOptions())}`);
  const toolchain = nvcc ? `${nvcc} (${nvccVersion()})` : 'skipped (--skip-nvcc)';
  log(`nvcc: ${toolchain}${args.nvccSample ? `, at most ${args.nvccSample} distinct sources per program, sampled per kind` : ''}`);
  const sample = args.nvccSample;
  const select = sample ? (distinct: readonly DistinctKernel[], target: 'webgpu' | 'cuda') => (target === 'cuda' ? sampleByKind(distinct, sample) : distinct) : undefined;
  const programs = FULL_SIZE_PROGRAMS.filter((p) => !args.only || args.only.includes(p.id));
  const reports: ProgramReport[] = [];
  for (const program of programs) {
    reports.push(await checkProgram(program, { webgpu: device.compileOptions(), log, skipNvcc: args.skipNvcc, ...(select ? { select } : {}) }));
    log(`${program.id}: done, ${reports.at(-1)!.failures.length} failure(s)`);
  }
  const failures = reports.reduce((n, r) => n + r.failures.length, 0);
  console.log(formatTable(reports));
  for (const r of reports) console.log(`${r.title} (batch ${r.batch}): ${r.setting}`);
  console.log(`total ${seconds(begun).toFixed(1)} s; ${failures} failure(s)`);
  if (failures) console.log(`\n${formatFailures(reports)}`);
  if (args.json) {
    const folder = args.json.replace(/[^/]*$/, '');
    if (folder) mkdirSync(folder, { recursive: true });
    const result: FullSizeResult = { adapter: device.adapterDescription, nvcc: toolchain, reports };
    writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
  }
  return failures ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Dawn's instance keeps the event loop alive: leave explicitly.
  main().then(
    (status) => process.exit(status),
    (error: unknown) => {
      console.error(errorText(error));
      process.exit(1);
    },
  );
}
