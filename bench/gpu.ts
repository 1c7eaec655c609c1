// Bench · the one WebGPU entry point every library shares. In: Dawn for Node (the
// npm package `webgpu`). Out: `navigator.gpu` installed on globalThis — where
// jax-js, tfjs and kiln's runtime all look for it — and a description of the
// adapter. Each library then calls requestAdapter itself and gets its own adapter
// and device (lavapipe hands out one device per adapter).

/// <reference types="@webgpu/types" />

import os from 'node:os';

export interface AdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
}

export interface GpuEnvironment {
  readonly adapter: AdapterDescription;
}

/**
 * Held for the life of the process: when the garbage collector frees Dawn's GPU
 * instance while a device made from it still has events scheduled, the process crashes.
 */
let instance: GPU | undefined;
let environment: Promise<GpuEnvironment> | undefined;

async function install(): Promise<GpuEnvironment> {
  // Dawn needs a runtime directory for its caches and sockets; containers often lack one.
  process.env.XDG_RUNTIME_DIR ??= os.tmpdir();
  const dawn = await import('webgpu');
  Object.assign(globalThis, dawn.globals);
  instance = dawn.create([]);
  // Node 21+ defines a getter-only `navigator`; define over it, keeping its fields.
  const existing = (globalThis as { navigator?: { userAgent?: string } }).navigator;
  Object.defineProperty(globalThis, 'navigator', {
    configurable: true,
    writable: true,
    value: {
      gpu: instance,
      userAgent: existing?.userAgent ?? `Node.js/${process.version}`,
      hardwareConcurrency: os.availableParallelism(),
    },
  });
  const adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('bench: no WebGPU adapter (on Debian: apt-get install -t bookworm-backports mesa-vulkan-drivers, or run bash scripts/setup-system.sh)');
  const { vendor, architecture, device, description } = adapter.info;
  return { adapter: { vendor, architecture, device, description } };
}

/** Installs navigator.gpu once and describes the adapter it offers. */
export function gpuEnvironment(): Promise<GpuEnvironment> {
  environment ??= install();
  return environment;
}
