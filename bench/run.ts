// Bench · the `npm run bench` command. In: flags (--only, --runs, --warmup, --json,
// --models, --libs). Out: on stdout a markdown table of kiln against jax-js and
// tfjs on the same WebGPU adapter in one process, with the date, adapter and
// machine; progress on stderr; optionally every sample as JSON. Per workload it
// prepares each library, checks their outputs agree (aborting if not), then times them.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { verify } from './check.ts';
import { gpuEnvironment } from './gpu.ts';
import { formatFirstCalls, formatMs, formatTable, machineDescription, measureInterleaved, type BenchCase, type Cell, type Library, type Outputs, type Row } from './harness.ts';
import { kiln } from './kiln.ts';
import { jaxJs } from './peers/jax.ts';
import { tfjs } from './peers/tfjs.ts';
import { DEFAULT_WORKLOADS, MIN_RUNS, MODEL_WORKLOADS, WORKLOAD_NAMES, WORKLOADS, ELEMENTWISE_CHAIN, workloadData, type WorkloadName } from './workloads.ts';

const USAGE = `usage: npm run bench -- [--only NAME[,NAME…]] [--runs N] [--warmup N] [--json FILE] [--models] [--libs kiln,jax-js,tfjs]
  workloads: ${WORKLOAD_NAMES.join(', ')}
  default: ${DEFAULT_WORKLOADS.join(', ')}; --models adds the kiln-only ${MODEL_WORKLOADS.join(', ')}`;

const LIBRARIES: readonly Library[] = [kiln, jaxJs, tfjs];

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.slice(0, 200);
}

function positive(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || (flag === 'runs' && n === 0)) throw new Error(`--${flag} expects a ${flag === 'runs' ? 'positive' : 'non-negative'} integer, got "${value}"\n${USAGE}`);
  return n;
}

function packageVersion(name: string): string {
  try {
    const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

interface Options {
  readonly names: readonly WorkloadName[];
  readonly libraries: readonly Library[];
  readonly runs?: number;
  readonly warmup?: number;
  readonly json?: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      json: { type: 'string' },
      models: { type: 'boolean', default: false },
      libs: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const list = (text: string) => text.split(',').map((s) => s.trim()).filter((s) => s);
  const names = values.only ? list(values.only) : [...DEFAULT_WORKLOADS, ...(values.models ? MODEL_WORKLOADS : [])];
  for (const name of names) if (!(WORKLOAD_NAMES as readonly string[]).includes(name)) throw new Error(`unknown workload "${name}"\n${USAGE}`);
  const wanted = values.libs ? list(values.libs) : LIBRARIES.map((l) => l.name);
  for (const name of wanted) if (!LIBRARIES.some((l) => l.name === name)) throw new Error(`unknown library "${name}"\n${USAGE}`);
  const runs = positive('runs', values.runs);
  const warmup = positive('warmup', values.warmup);
  return {
    names: names as WorkloadName[],
    libraries: LIBRARIES.filter((l) => wanted.includes(l.name)),
    ...(runs === undefined ? {} : { runs }),
    ...(warmup === undefined ? {} : { warmup }),
    ...(values.json ? { json: values.json } : {}),
  };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await work();
  return { value, ms: performance.now() - t0 };
}

/** Prepares every library, checks their outputs agree, then times them in interleaved rounds. */
async function runWorkload(name: WorkloadName, opts: Options): Promise<{ row: Row; check: string }> {
  const workload = WORKLOADS[name];
  const data = workloadData(name);
  const runs = opts.runs ?? workload.runs;
  const warmup = opts.warmup ?? workload.warmup;
  const cells: Record<string, Cell> = {};
  const cases = new Map<string, BenchCase>();
  const firstMs = new Map<string, number>();
  const outputs = new Map<string, Outputs>();
  try {
    for (const library of opts.libraries) {
      if (!workload.peers && library.name !== kiln.name) {
        cells[library.name] = { status: 'n/a', reason: 'kiln-only workload (the model exists only in kiln\'s DSL)' };
        continue;
      }
      try {
        const prepared = await timed(() => library.prepare(data));
        if ('unavailable' in prepared.value) {
          cells[library.name] = { status: 'n/a', reason: prepared.value.unavailable };
          continue;
        }
        const bench = prepared.value.bench;
        cases.set(library.name, bench);
        // the first call compiles (kiln: pipelines; jax-js: jit; tfjs: shaders) and gives the outputs to compare
        const first = await timed(() => bench.outputs());
        outputs.set(library.name, first.value);
        firstMs.set(library.name, prepared.ms + first.ms);
        log(`${name} · ${library.name}: prepared in ${formatMs(prepared.ms)}, first run with full readback ${formatMs(first.ms)}`);
      } catch (error) {
        log(`${name} · ${library.name}: failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        cases.delete(library.name);
        cells[library.name] = { status: 'n/a', reason: `failed: ${message(error)}` };
      }
    }
    const check = verify(name, data, outputs);
    log(check);
    const runners = new Map([...cases].map(([library, bench]) => [library, () => bench.run()]));
    const timings = await measureInterleaved(runners, { runs, warmup, budgetSeconds: workload.budgetSeconds, minRuns: MIN_RUNS });
    for (const [library, timing] of timings) {
      if (timing instanceof Error) {
        log(`${name} · ${library}: failed while timing: ${timing.stack ?? timing.message}`);
        cells[library] = { status: 'n/a', reason: `failed while timing: ${message(timing)}` };
        continue;
      }
      cells[library] = { status: 'ok', timing, firstMs: firstMs.get(library)! };
      log(`${name} · ${library}: median ${formatMs(timing.medianMs)} over ${timing.samplesMs.length} runs [${timing.samplesMs.map(formatMs).join(', ')}]`);
    }
    return { row: { workload, runs, cells }, check };
  } finally {
    for (const bench of cases.values()) bench.dispose();
  }
}

async function main(): Promise<void> {
  const opts = options();
  const env = await gpuEnvironment();
  const date = new Date().toISOString();
  const adapter = [env.adapter.vendor, env.adapter.architecture, env.adapter.description].filter((s) => s).join(' · ');
  const machine = machineDescription();
  const versions = `@jax-js/jax ${packageVersion('@jax-js/jax')}, @tensorflow/tfjs ${packageVersion('@tensorflow/tfjs')} + tfjs-backend-webgpu ${packageVersion('@tensorflow/tfjs-backend-webgpu')}, webgpu (Dawn) ${packageVersion('webgpu')}`;
  log(`adapter: ${adapter}`);
  const rows: Row[] = [];
  const checks: string[] = [];
  for (const name of opts.names) {
    const { row, check } = await runWorkload(name, opts);
    rows.push(row);
    checks.push(check);
  }
  const names = opts.libraries.map((l) => l.name);
  console.log([
    `date: ${date}`,
    `adapter: ${adapter}`,
    `machine: ${machine}`,
    `peers: ${versions}`,
    '',
    formatTable(rows, names),
    '',
    'Each cell: median wall time of the timed runs after warm-up, from submitting the work to a small readback',
    '(4 values, or the loss) being on the host; libraries take turns run by run, each on its own adapter and',
    'device of the same GPU. The first call (compile/jit + one run + full readback) is left out; it is below.',
    `Elementwise chain: ${ELEMENTWISE_CHAIN}; GB/s counts one read and one write of 4M floats.`,
    'Transformer block: pre-norm ViT block (width 256, 4 heads, 64 tokens, MLP ×4, exact GELU, LayerNorm eps 1e-6),',
    'identical weights in every library; train step = loss (mean of the output) + gradients of all 12 weight tensors.',
    'Checked before timing (relative error ≤ 1e-3):',
    ...checks.map((c) => `- ${c}`),
    '',
    'First call (compile or jit + one run + full readback):',
    '',
    formatFirstCalls(rows, names),
  ].join('\n'));
  if (opts.json) {
    const results = rows.map((row) => ({
      workload: row.workload.name,
      title: row.workload.title,
      runs: row.runs,
      cells: Object.fromEntries(Object.entries(row.cells).map(([library, cell]) => [library, cell.status === 'ok'
        ? { status: 'ok', medianMs: cell.timing.medianMs, samplesMs: cell.timing.samplesMs, firstCallMs: cell.firstMs, ...(row.workload.rate ? { [row.workload.rate.unit]: row.workload.rate.perRun / (cell.timing.medianMs / 1000) / 1e9 } : {}) }
        : { status: 'n/a', reason: cell.reason }])),
    }));
    writeFileSync(opts.json, `${JSON.stringify({ date, adapter: env.adapter, machine, versions, results, checks }, null, 2)}\n`);
    log(`wrote ${opts.json}`);
  }
}

main().then(
  // Dawn's devices keep the event loop alive; leave once the report is out.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
