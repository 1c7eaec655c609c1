// The CUDA runtime addon: it builds on every machine (`npm install` runs node-gyp;
// no CUDA toolkit needed), loads without a GPU, and says why CUDA cannot be used
// instead of crashing. Where a driver exists, the device opens and reports itself.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addonPath, cudaAvailability, cudaDevice, loadAddon } from '../../runtime/cuda/device.ts';

const DRIVER = ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1', '/usr/lib/wsl/lib/libcuda.so.1'].some(existsSync);

describe('CUDA addon', () => {
  it('is built by npm install and loads on a machine without CUDA', () => {
    expect(existsSync(addonPath()), `${addonPath()} is missing: npm install should have built it (scripts/build-cuda-addon.mjs)`).toBe(true);
    const found = loadAddon();
    expect('error' in found ? found.error : '').toBe('');
  });

  it.skipIf(DRIVER)('available() reports the missing driver without crashing, and opening the device says why', () => {
    expect(cudaAvailability()).toEqual({ ok: false, reason: 'no CUDA driver (libcuda.so.1 not found)' });
    expect(() => cudaDevice()).toThrow('kiln: CUDA is unavailable: no CUDA driver (libcuda.so.1 not found)');
  });

  it('refuses work before init() with an error that says so, and checks its arguments', () => {
    const found = loadAddon();
    if ('error' in found) throw new Error(found.error);
    const { addon } = found;
    if (!DRIVER) {
      expect(() => addon.malloc(16)).toThrow('kiln cuda: init() has not been called (or failed)');
      expect(() => addon.init()).toThrow('kiln cuda: no CUDA driver (libcuda.so.1 not found)');
    }
    expect(() => addon.free(16 as unknown as bigint)).toThrow(/kiln cuda: (pointer must be a bigint handle|init\(\) has not been called)/);
  });

  it.skipIf(!DRIVER || !cudaAvailability().ok)('opens the device and reports its name and limits', () => {
    const device = cudaDevice();
    expect(device.info.name.length).toBeGreaterThan(0);
    expect(device.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(1024);
  });
});
