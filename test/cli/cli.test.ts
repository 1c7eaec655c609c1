// The kiln command: --help on every command, one clear line and exit status 2
// for a bad command, flag or value, and the demo end to end (short preset, on
// the interpreter) writing everything it promises under its output folder; then
// the standalone sample command on its files, and one clear line (exit status 1)
// for a model file of the wrong kind or a truncated one.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS, commandHelp } from '../../cli/commands.ts';
import { parseFlags, UsageError } from '../../cli/flags.ts';
import { DEMO_SHORT } from '../../cli/pipeline/demo.ts';

const out = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function kiln(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['cli/kiln.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The long runs: asynchronous, so the test worker keeps answering vitest while they train. */
function kilnAsync(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['cli/kiln.js', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('kiln --help', () => {
  it('lists every command, and each command\'s help lists every flag it accepts', () => {
    const top = kiln('--help');
    expect(top.status).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(top.stdout).toContain(`  ${name}`);
    for (const [name, command] of Object.entries(COMMANDS)) {
      const text = commandHelp(name, command);
      expect(text).toContain(`usage: kiln ${name}`);
      for (const flag of Object.keys(command.flags)) expect(text, `${name} --${flag}`).toContain(`--${flag}`);
    }
    const sub = kiln('sample', '--help');
    expect(sub.status).toBe(0);
    expect(sub.stdout).toContain('--cfg W');
  });
});

describe('kiln: bad input is one clear line and exit status 2', () => {
  it('names an unknown command, flag, value or a missing required flag', () => {
    const cases: [string[], RegExp][] = [
      [['trian-tokenizer'], /unknown command "trian-tokenizer"/],
      [['train-tokenizer', '--stepz', '3'], /unknown flag --stepz \(did you mean --steps\?\)/],
      [['sample', '--cfg', 'lots'], /--cfg needs a number, got "lots"/],
      [['sample', '--sampler', 'ddim'], /--sampler must be one of euler, heun, euler-maruyama; got "ddim"/],
      [['encode', '--device', 'cpu'], /--tokenizer is required/],
      [['compile', '--model', 'sit-tiny', '--gemm', 'library'], /--gemm library needs --target cuda/],
    ];
    for (const [args, message] of cases) {
      const r = kiln(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('parses values of every kind and rejects a switch given a value', () => {
    const specs = COMMANDS['train-tokenizer']!.flags;
    const v = parseFlags('train-tokenizer', ['--steps', '12', '--variant=plain-ae', '--resume', '--lr', '1e-3'], specs);
    expect([v.steps, v.variant, v.resume, v.lr, v.batch]).toEqual([12, 'plain-ae', true, 1e-3, 16]);
    expect(() => parseFlags('train-tokenizer', ['--resume=yes'], specs)).toThrow(UsageError);
    expect(() => parseFlags('train-tokenizer', ['--steps'], specs)).toThrow(/--steps needs a value/);
    expect(() => parseFlags('train-tokenizer', ['stray'], specs)).toThrow(/unexpected argument "stray"/);
  });
});

describe('kiln compile', () => {
  it('reports the cuBLASLt GEMM calls of a library-GEMM CUDA program', () => {
    const r = kiln('compile', '--model', 'sit-tiny', '--batch', '2', '--target', 'cuda', '--gemm', 'library');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sit-tiny train \(batch 2\) → cuda: \d+ graph nodes, \d+ kernels \(\d+ distinct, [1-9]\d* cuBLASLt GEMM calls\)/);
  });
});

describe('kiln demo --short (interpreter, real Fashion-MNIST)', () => {
  it('trains every stage, samples with guidance and writes grids, plots, models and metrics', async () => {
    const dir = join(out, 'demo');
    const r = await kilnAsync('demo', '--short', '--device', 'cpu', '--out', dir);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    const [maetok] = metrics.tokenizers;
    for (const key of ['finalLoss', 'psnr', 'ssim', 'linearProbe', 'gmmNll', 'diffusionFinalLoss', 'gfd']) expect(Number.isFinite(maetok[key]), key).toBe(true);
    expect(maetok.linearProbe).toBeGreaterThanOrEqual(0);
    expect(maetok.linearProbe).toBeLessThanOrEqual(1);
    const perClass = DEMO_SHORT.sample.perClass;
    const grid = PNG.sync.read(readFileSync(join(dir, 'maetok-samples.png')));
    // 10 columns (classes) × perClass rows of 28² tiles with 2-px padding
    expect([grid.width, grid.height]).toEqual([10 * 30 + 2, perClass * 30 + 2]);
    expect(PNG.sync.read(readFileSync(join(dir, 'maetok-reconstructions.png'))).width).toBeGreaterThan(28);
    for (const file of ['tokenizer-loss.svg', 'diffusion-loss.svg', 'classifier-loss.svg']) expect(readFileSync(join(dir, file), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    for (const file of ['maetok.safetensors', 'maetok-latents.safetensors', 'maetok-diffusion.safetensors', 'classifier.safetensors', 'logs/maetok.jsonl']) expect(existsSync(join(dir, file)), file).toBe(true);

    // the standalone sample command reads the demo's model files
    const png = join(out, 'again.png');
    const s = await kilnAsync('sample', '--diffusion', join(dir, 'maetok-diffusion.safetensors'), '--tokenizer', join(dir, 'maetok.safetensors'), '--per-class', '1', '--steps', '2', '--sampler', 'euler', '--device', 'cpu', '--out', png);
    expect(s.status, s.stderr.slice(-2000)).toBe(0);
    expect(PNG.sync.read(readFileSync(png)).width).toBe(10 * 30 + 2);

    // a model file of the wrong kind, or a truncated one, is one line naming the file and the problem (exit status 1, no stack)
    const sample = (diffusion: string, tokenizer: string) => kilnAsync('sample', '--diffusion', diffusion, '--tokenizer', tokenizer, '--device', 'cpu', '--out', png);
    const wrong = await sample(join(dir, 'classifier.safetensors'), join(dir, 'maetok.safetensors'));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^kiln sample: .*classifier\.safetensors: holds a classifier model, this command needs a diffusion/)]);
    const truncated = join(out, 'truncated.safetensors');
    writeFileSync(truncated, readFileSync(join(dir, 'maetok.safetensors')).subarray(0, 1000));
    const broken = await sample(join(dir, 'maetok-diffusion.safetensors'), truncated);
    expect(broken.status).toBe(1);
    expect(broken.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^kiln sample: .*truncated\.safetensors: header length \d+ runs past the end of the file \(1000 bytes\); the file is truncated$/)]);
  }, 1_500_000);
});
