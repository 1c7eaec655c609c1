// PTX without nvcc (runtime/cuda/nvrtc.ts): the addon dlopen()s NVRTC, here a fake
// (test/support/fake-libnvrtc.c, built with cc and named in KILN_NVRTC) that emits
// one `.entry` per kernel, records its options and fails on `#error` with NVRTC's
// log format. Checked: the search order; the clear error when neither nvcc nor
// NVRTC exists; a whole program compiled in one NVRTC call with the architecture,
// C++17 and the CUDA include folder; every kernel getting its own PTX module
// (renamed copies for kernels that differ only in their entry name); compile
// errors naming the kernel and quoting its source line; warnings rejected.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { PtxError } from '../../compiler/codegen/ptx.ts';
import type { Program } from '../../compiler/program.ts';
import { spec, trace } from '../../dsl/index.ts';
import { ditBlock } from '../../models/vit.ts';
import { loadAddon } from '../../runtime/cuda/device.ts';
import { nvrtcCandidates, nvrtcStatus, programWithPtx } from '../../runtime/cuda/nvrtc.ts';

const cc = ['cc', 'gcc'].find((c) => spawnSync(c, ['--version']).status === 0);
const addon = loadAddon();
const skip = !cc ? 'no C compiler (cc) to build the fake NVRTC' : 'error' in addon ? addon.error : '';
const dir = mkdtempSync(join(tmpdir(), 'kiln-fake-nvrtc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NO_NVCC = { nvcc: join(dir, 'no-such-nvcc') };

it('searches KILN_NVRTC alone when set, else the sonames, the toolkit and Python wheels', () => {
  expect(nvrtcCandidates({ KILN_NVRTC: '/x/libnvrtc.so.12' })).toEqual(['/x/libnvrtc.so.12']);
  expect(nvrtcCandidates({}).slice(0, 3)).toEqual(['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so']);
});

describe.skipIf(!!skip)(`NVRTC through the CUDA addon${skip ? ` [skipped: ${skip}]` : ''}`, () => {
  const program = (): Program => {
    const t = trace((ctx, { x, c }) => ditBlock(ctx.child('blocks.0'), x, c, { heads: 2 }), { x: spec([2, 16, 32] as const), c: spec([2, 32] as const) });
    return compile(t.graph, { target: 'cuda' }).program;
  };

  it('without nvcc or NVRTC, says what is missing for both', async () => {
    const env = { KILN_NVRTC: join(dir, 'missing-libnvrtc.so') };
    const status = nvrtcStatus(env);
    expect(status.ok).toBe(false);
    expect(!status.ok && status.reason).toMatch(/no NVRTC library could be loaded:\n {2}.*missing-libnvrtc\.so: .*\n\(set KILN_NVRTC/);
    await expect(programWithPtx(program(), NO_NVCC, env)).rejects.toThrow(/no-such-nvcc \(from options\.nvcc\) is not an executable[\s\S]*NVRTC, the fallback, is unavailable too: no NVRTC library/);
  });

  it('compiles a whole program in one call, one PTX module per kernel, with the architecture, C++17 and the CUDA headers', async () => {
    execFileSync(cc!, ['-shared', '-fPIC', '-o', join(dir, 'libnvrtc.so'), join(__dirname, '..', 'support', 'fake-libnvrtc.c')]);
    const optionsFile = join(dir, 'options.txt');
    process.env.FAKE_NVRTC_OPTIONS = optionsFile;
    const env = { KILN_NVRTC: join(dir, 'libnvrtc.so') };
    const status = nvrtcStatus(env);
    expect(status.ok && [status.path, status.version]).toEqual([join(dir, 'libnvrtc.so'), '13.0']);
    const source = program();
    const compiled = await programWithPtx(source, NO_NVCC, env);
    expect(compiled.kernels.length).toBeGreaterThan(5);
    for (const k of compiled.kernels) {
      expect(k.ptx).toContain(`.visible .entry ${k.entryPoint}(`);
      expect(k.ptx!.match(/\.entry /g)).toHaveLength(1);
    }
    const options = readFileSync(optionsFile, 'utf8').trim().split('\n');
    expect(options.filter((o) => o === '--std=c++17')).toHaveLength(1); // one compile for the whole program
    expect(options).toContain('--gpu-architecture=compute_90');
    if (existsSync('/usr/local/cuda/include/cuda_fp16.h')) expect(options).toContain('--include-path=/usr/local/cuda/include');
  });

  it('a compile error names the kernel and quotes its line; a warning is an error too', async () => {
    const env = { KILN_NVRTC: join(dir, 'libnvrtc.so') };
    const base = program();
    const broken = (marker: string): Program => ({
      ...base,
      kernels: base.kernels.map((k, i) => (i === 2 ? { ...k, source: k.source.replace(') {\n', `) {\n  ${marker}\n`) } : k)),
    });
    const entry = base.kernels[2]!.entryPoint;
    const error = await programWithPtx(broken('#error kiln test'), NO_NVCC, env).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PtxError);
    expect((error as Error).message).toMatch(new RegExp(`kiln\\.cu\\(\\d+\\): error: #error directive[\\s\\S]*in kernel ${entry}, line \\d+ of its source:\\n[\\s\\S]*> +\\d+ \\| +#error kiln test`));
    await expect(programWithPtx(broken('int kiln_fake_warning = 0;'), NO_NVCC, env)).rejects.toThrow(/warned \(kiln requires zero warnings\)[\s\S]*warning #177-D/);
  });
});
