// Codegen · CUDA C++ → PTX at compile time (Node only). In: a 'cuda' Program (or
// any list of kernel sources printed by codegen/cuda.ts). Out: the same Program
// with PTX on every kernel, so the machine that runs it needs only the CUDA driver
// (cuModuleLoadData JIT-compiles PTX for the GPU at hand).
//
// nvcc is slow to start (it preprocesses the CUDA headers for every translation
// unit), so all kernels of a program go through ONE nvcc run: their sources are
// concatenated into one .cu (codegen/cuda.ts keeps them concatenable), compiled
// with `-Werror all-warnings`, and the resulting module is split back into one
// self-contained PTX module per entry (the shared header and module-scope
// declarations, then that entry). Any diagnostic at all is an error that names
// the kernel and shows its source lines. Nothing else in compiler/ imports this
// file: compile() stays synchronous and browser-safe. Where nvcc is absent, an
// in-process compiler (NVRTC via runtime/cuda/nvrtc.ts) takes the same batches.

import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Program, ProgramKernel } from '../program.ts';

export interface PtxOptions {
  /** Virtual architecture to compile for (default sm_90: Hopper; PTX JITs forward to newer GPUs). */
  readonly arch?: string;
  /** Path of nvcc (default: $KILN_NVCC, else nvcc on PATH, else the usual install folders). */
  readonly nvcc?: string;
  /** Also assemble the PTX with ptxas (catches resource errors such as too much shared memory; slower). */
  readonly assemble?: boolean;
  /** Kill nvcc after this many milliseconds (default 10 minutes). */
  readonly timeoutMs?: number;
  /** Compile with this instead of nvcc (NVRTC through the CUDA addon: runtime/cuda/nvrtc.ts); `assemble` is then ignored. */
  readonly compiler?: CudaSourceCompiler;
}

/**
 * One CUDA C++ translation unit (named kiln.cu in diagnostics) → its PTX module for `arch`,
 * or an Error whose message is the compiler's log.
 */
export type CudaSourceCompiler = (source: string, arch: string) => string;

export class PtxError extends Error {
  override readonly name = 'PtxError';
}

/** Where nvcc lives when it is not on PATH: the toolkit's default prefix and Debian's nvidia-cuda-toolkit. */
const NVCC_FOLDERS = ['/usr/local/cuda/bin', '/usr/lib/nvidia-cuda-toolkit/bin', '/opt/cuda/bin'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nvcc to use, or undefined when there is none (see PtxOptions.nvcc for the search order). */
export function findNvcc(options: Pick<PtxOptions, 'nvcc'> = {}, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = options.nvcc ?? env.KILN_NVCC;
  if (explicit) return executable(explicit) ? explicit : undefined;
  const folders = [...(env.PATH ?? '').split(delimiter).filter((d) => d), ...NVCC_FOLDERS];
  return folders.map((d) => join(d, 'nvcc')).find(executable);
}

/** Why there is no nvcc, as a message that says how to get one. */
export function missingNvccMessage(options: Pick<PtxOptions, 'nvcc'> = {}, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = options.nvcc ?? env.KILN_NVCC;
  const where = explicit
    ? `${explicit} (from ${options.nvcc ? 'options.nvcc' : 'KILN_NVCC'}) is not an executable`
    : `nvcc was not found on PATH or in ${NVCC_FOLDERS.join(', ')}`;
  return `kiln: cannot compile CUDA kernels to PTX: ${where}. Install the CUDA toolkit (Debian: nvidia-cuda-toolkit from non-free) or set KILN_NVCC to nvcc's path.`;
}

function requireNvcc(options: PtxOptions): string {
  const nvcc = findNvcc(options);
  if (!nvcc) throw new PtxError(missingNvccMessage(options));
  return nvcc;
}

/** nvcc's release line ("Cuda compilation tools, release 13.0, V13.0.88"). */
export function nvccVersion(options: Pick<PtxOptions, 'nvcc'> = {}): string {
  const result = spawnSync(requireNvcc(options), ['--version'], { encoding: 'utf8' });
  return result.stdout.split('\n').find((line) => line.includes('release'))?.trim() ?? result.stdout.trim();
}

export interface KernelSource {
  /** The `extern "C"` entry the source defines (ProgramKernel.entryPoint). */
  readonly entry: string;
  readonly source: string;
}

/** One top-level piece of a PTX module: the header, a module-scope declaration, or an entry. */
interface PtxPiece {
  readonly kind: 'header' | 'declaration' | 'entry';
  readonly name?: string;
  readonly text: string;
}

/** Splits nvcc's PTX at top level: `.version/.target/.address_size`, declarations (`.global`, `.const`, `.func` …), and `.entry` blocks. */
export function splitPtx(ptx: string): PtxPiece[] {
  const pieces: PtxPiece[] = [];
  const lines = ptx.split('\n');
  let current: string[] = [];
  let kind: PtxPiece['kind'] = 'declaration';
  let name: string | undefined;
  let depth = 0;
  let opened = false;
  const flush = (): void => {
    const text = current.join('\n').trim();
    if (text) pieces.push({ kind, ...(name !== undefined ? { name } : {}), text });
    current = [];
    kind = 'declaration';
    name = undefined;
    opened = false;
  };
  for (const line of lines) {
    const code = line.replace(/\/\/.*$/, '').trim();
    if (depth === 0 && current.length === 0 && code === '') continue;
    if (depth === 0 && !opened && /^\.(version|target|address_size)\b/.test(code)) {
      pieces.push({ kind: 'header', text: code });
      continue;
    }
    if (depth === 0 && current.length === 0) {
      const entry = /^(?:\.visible\s+|\.weak\s+)?\.entry\s+([A-Za-z_$][\w$]*)/.exec(code);
      if (entry) {
        kind = 'entry';
        name = entry[1]!;
      }
    }
    current.push(line);
    for (const ch of code) {
      if (ch === '{') {
        depth++;
        opened = true;
      } else if (ch === '}') depth--;
    }
    // A piece ends at the brace that closes a body, or at a `;` outside braces (an entry ends only with its body).
    if (depth === 0 && (code.endsWith('}') || (code.endsWith(';') && !(kind === 'entry' && !opened)))) flush();
  }
  flush();
  return pieces;
}

/** The one-entry module for `entry`: the header, every module-scope declaration (constant tables, device functions), the entry. */
function moduleFor(pieces: readonly PtxPiece[], entry: string): string {
  const body = pieces.find((p) => p.kind === 'entry' && p.name === entry);
  if (!body) throw new PtxError(`nvcc's PTX has no entry ${entry}`);
  const shared = pieces.filter((p) => p.kind !== 'entry');
  return [...shared.map((p) => p.text), body.text].join('\n\n') + '\n';
}

/** Maps a line of the concatenated .cu back to its kernel, for diagnostics. */
function describeDiagnostics(stderr: string, sources: readonly KernelSource[], starts: readonly number[]): string {
  const out: string[] = [stderr.trim()];
  const seen = new Set<string>();
  for (const match of stderr.matchAll(/kiln\.cu\((\d+)\)/g)) {
    const line = Number(match[1]);
    let k = starts.length - 1;
    while (k > 0 && starts[k]! > line) k--;
    const kernel = sources[k]!;
    const local = line - starts[k]! + 1;
    const key = `${kernel.entry}:${local}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const src = kernel.source.split('\n');
    const excerpt: string[] = [];
    for (let n = Math.max(1, local - 2); n <= Math.min(src.length, local + 2); n++) excerpt.push(`${n === local ? '>' : ' '} ${String(n).padStart(4)} | ${src[n - 1]}`);
    out.push(`in kernel ${kernel.entry}, line ${local} of its source:\n${excerpt.join('\n')}`);
  }
  return out.join('\n\n');
}

interface Ran {
  readonly status: number | null;
  readonly output: string;
  readonly error?: Error;
}

/** A tool run a batch asks for; the sync and async drivers below execute it. */
interface Command {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
}

function runAsync({ command, args, cwd }: Command, options: PtxOptions): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 600_000 });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.on('error', (error) => resolve({ status: null, output, error }));
    child.on('close', (status) => resolve({ status, output }));
  });
}

function runSync({ command, args, cwd }: Command, options: PtxOptions): Ran {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: options.timeoutMs ?? 600_000 });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, ...(result.error ? { error: result.error } : {}) };
}

/** Kernels per nvcc run below which splitting a batch across processes costs more than it saves (nvcc's start-up is about a second). */
const KERNELS_PER_JOB = 64;

/** Sources concatenated into one translation unit, with the line each starts at (for diagnostics). */
function concatenate(sources: readonly KernelSource[]): { text: string; starts: number[] } {
  const starts: number[] = [];
  let line = 1;
  const parts = sources.map((s) => {
    starts.push(line);
    const text = s.source.endsWith('\n') ? s.source : `${s.source}\n`;
    line += text.split('\n').length - 1;
    return text;
  });
  return { text: parts.join(''), starts };
}

/** One nvcc run over `sources` (concatenated), then ptxas when asked; yields the commands, returns the whole PTX module. */
function* compileBatch(nvcc: string, sources: readonly KernelSource[], options: PtxOptions): Generator<Command, string, Ran> {
  const arch = options.arch ?? 'sm_90';
  const { text, starts } = concatenate(sources);
  const cwd = mkdtempSync(join(tmpdir(), 'kiln-ptx-'));
  try {
    writeFileSync(join(cwd, 'kiln.cu'), text);
    const compiled = yield { command: nvcc, args: [`-arch=${arch}`, '--ptx', '-std=c++17', '-Werror', 'all-warnings', '-o', 'kiln.ptx', 'kiln.cu'], cwd };
    if (compiled.error) throw new PtxError(`kiln: running ${nvcc} failed: ${compiled.error.message}`);
    if (compiled.status !== 0 || compiled.output.trim() !== '') {
      throw new PtxError(`nvcc -arch=${arch} reported problems (kiln requires zero errors and warnings):\n${describeDiagnostics(compiled.output, sources, starts)}`);
    }
    if (options.assemble) {
      const ptxas = join(nvcc, '..', 'ptxas');
      const assembled = yield { command: executable(ptxas) ? ptxas : 'ptxas', args: [`-arch=${arch}`, '--warning-as-error', '-o', 'kiln.cubin', 'kiln.ptx'], cwd };
      if (assembled.error || assembled.status !== 0 || assembled.output.trim() !== '') {
        throw new PtxError(`ptxas -arch=${arch} reported problems:\n${assembled.error?.message ?? assembled.output.trim()}`);
      }
    }
    return readFileSync(join(cwd, 'kiln.ptx'), 'utf8');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

async function driveAsync(batch: Generator<Command, string, Ran>, options: PtxOptions): Promise<string> {
  let step = batch.next();
  while (!step.done) step = batch.next(await runAsync(step.value, options));
  return step.value;
}

function driveSync(batch: Generator<Command, string, Ran>, options: PtxOptions): string {
  let step = batch.next();
  while (!step.done) step = batch.next(runSync(step.value, options));
  return step.value;
}

/** One in-process compile (options.compiler) over `sources` concatenated. */
function compileBatchWith(compiler: CudaSourceCompiler, sources: readonly KernelSource[], options: PtxOptions): string {
  const arch = options.arch ?? 'sm_90';
  const { text, starts } = concatenate(sources);
  try {
    return compiler(text, arch);
  } catch (error) {
    const log = error instanceof Error ? error.message : String(error);
    throw new PtxError(`the CUDA compiler (${arch}) reported problems (kiln requires zero errors and warnings):\n${describeDiagnostics(log, sources, starts)}`);
  }
}

interface Plan {
  /** nvcc's path, or undefined when options.compiler compiles in process. */
  readonly nvcc: string | undefined;
  /** Batches of distinct sources, one nvcc run each. */
  readonly batches: readonly (readonly KernelSource[])[];
  /** finish(modules) maps each batch's PTX back to every entry. */
  readonly finish: (modules: readonly string[]) => Map<string, string>;
}

/** Kernels whose sources differ only in the entry name compile once; the distinct ones are split into `jobs` batches. */
function plan(sources: readonly KernelSource[], options: PtxOptions, jobs: number): Plan {
  const nvcc = options.compiler ? undefined : requireNvcc(options);
  const representative = new Map<string, KernelSource>();
  const copyOf = new Map<string, KernelSource>();
  for (const s of sources) {
    if (copyOf.has(s.entry)) throw new PtxError(`two kernels share the entry name ${s.entry}`);
    // trailing comments name the kernel's buffers; without them, repeated blocks share one nvcc job
    const key = s.source.replace(/\/\/.*$/gm, '').replaceAll(s.entry, '\u0000');
    const first = representative.get(key);
    if (!first) representative.set(key, s);
    copyOf.set(s.entry, first ?? s);
  }
  const unique = [...representative.values()];
  const count = Math.max(1, Math.min(jobs, Math.ceil(unique.length / KERNELS_PER_JOB)));
  const batches = Array.from({ length: count }, (_, j) => unique.filter((_, i) => i % count === j)).filter((b) => b.length > 0);
  const finish = (modules: readonly string[]): Map<string, string> => {
    const pieces = modules.map(splitPtx);
    const batchOf = new Map<string, number>();
    batches.forEach((batch, j) => batch.forEach((s) => batchOf.set(s.entry, j)));
    const result = new Map<string, string>();
    for (const s of sources) {
      const first = copyOf.get(s.entry)!;
      const ptx = moduleFor(pieces[batchOf.get(first.entry)!]!, first.entry);
      result.set(s.entry, first === s ? ptx : ptx.replaceAll(first.entry, s.entry));
    }
    return result;
  };
  return { nvcc, batches, finish };
}

/**
 * Compiles kernel sources (each from printCuda) to a self-contained PTX module per
 * entry: kernels whose sources differ only in their entry name are compiled once,
 * and the rest go to nvcc in as few runs as there are cores to use. Rejects with
 * PtxError on any error or warning, naming the kernel and showing its source.
 */
export async function compileToPtx(sources: readonly KernelSource[], options: PtxOptions & { readonly jobs?: number } = {}): Promise<Map<string, string>> {
  if (sources.length === 0) return new Map();
  const { nvcc, batches, finish } = plan(sources, options, options.jobs ?? availableParallelism());
  if (!nvcc) return finish(batches.map((batch) => compileBatchWith(options.compiler!, batch, options)));
  return finish(await Promise.all(batches.map((batch) => driveAsync(compileBatch(nvcc, batch, options), options))));
}

/** compileToPtx in one blocking nvcc run (for synchronous callers such as the test backends). */
export function compileToPtxSync(sources: readonly KernelSource[], options: PtxOptions = {}): Map<string, string> {
  if (sources.length === 0) return new Map();
  const { nvcc, batches, finish } = plan(sources, options, 1);
  if (!nvcc) return finish(batches.map((batch) => compileBatchWith(options.compiler!, batch, options)));
  return finish(batches.map((batch) => driveSync(compileBatch(nvcc, batch, options), options)));
}

function attach(program: Program, ptx: ReadonlyMap<string, string>): Program {
  return { ...program, kernels: program.kernels.map((k): ProgramKernel => ({ ...k, ptx: ptx.get(k.entryPoint)! })) };
}

function cudaSources(program: Program): KernelSource[] {
  if (program.target !== 'cuda') throw new PtxError(`withPtx: a ${program.target} program has no CUDA source; compile with { target: 'cuda' }`);
  return program.kernels.map((k) => ({ entry: k.entryPoint, source: k.source }));
}

/** The program with PTX on every kernel. */
export async function withPtx(program: Program, options: PtxOptions = {}): Promise<Program> {
  return attach(program, await compileToPtx(cudaSources(program), options));
}

/** withPtx, blocking. */
export function withPtxSync(program: Program, options: PtxOptions = {}): Program {
  return attach(program, compileToPtxSync(cudaSources(program), options));
}
