#!/usr/bin/env node
// Builds the CUDA driver addon (runtime/cuda, node-gyp) as the package's `install`
// step. The addon needs no CUDA toolkit (it dlopen()s libcuda.so.1 at run time), only
// python3, make and a C++17 compiler. A failed build never fails the install: kiln
// works without it, and the cuda device then reports that the addon is missing.
// KILN_SKIP_CUDA_ADDON=1 skips the build.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const directory = join(root, 'runtime', 'cuda');

if (process.env.KILN_SKIP_CUDA_ADDON === '1') {
  console.log('kiln: KILN_SKIP_CUDA_ADDON=1, not building the CUDA addon');
  process.exit(0);
}

/** node-gyp as npm runs it (npm sets npm_config_node_gyp), else npm's bundled copy next to this node, else PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(Boolean);
  const script = candidates.find((path) => existsSync(path));
  return script ? [process.execPath, script] : ['node-gyp'];
}

/** Node's own headers, so node-gyp never downloads them (npm passes npm_config_nodedir; a direct run looks beside node). */
function nodedir() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

const [command, ...prefix] = nodeGyp();
const result = spawnSync(command, [...prefix, 'rebuild', `--directory=${directory}`, ...nodedir()], { cwd: root, encoding: 'utf8', env: process.env });
if (result.status === 0) {
  console.log('kiln: built the CUDA addon (runtime/cuda/build/Release/kiln_cuda.node)');
} else {
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  console.warn(
    `kiln: warning: the CUDA addon (runtime/cuda) did not build; everything else works, and the cuda device will say the addon is missing.\n` +
      `It needs python3, make and g++ (Debian: apt-get install python3 make g++). ${result.error ? result.error.message : ''}\n${output}`,
  );
}
