// Graph IR · the definition of the randomBits primitive: Threefry-2x32 with 20
// rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", the
// Random123 reference). Counter based, so every backend computes element i alone:
// bits[i] = threefry2x32(key, [floor(i / 2), 0])[i mod 2] over the row-major index.
// The interpreter and the host-side initialisers call this; kernels reimplement it.

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;
const KEY_PARITY = 0x1bd11bda;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** One Threefry-2x32-20 block: two 32-bit counter words under a two-word key. */
export function threefry2x32(key0: number, key1: number, ctr0: number, ctr1: number): [number, number] {
  const ks = [key0 >>> 0, key1 >>> 0, (KEY_PARITY ^ key0 ^ key1) >>> 0];
  let x0 = (ctr0 + ks[0]!) >>> 0;
  let x1 = (ctr1 + ks[1]!) >>> 0;
  for (let round = 0; round < 20; round++) {
    x0 = (x0 + x1) >>> 0;
    x1 = rotl(x1, ROTATIONS[round % 8]!);
    x1 = (x1 ^ x0) >>> 0;
    if (round % 4 === 3) {
      const s = (round + 1) / 4;
      x0 = (x0 + ks[s % 3]!) >>> 0;
      x1 = (x1 + ks[(s + 1) % 3]! + s) >>> 0;
    }
  }
  return [x0, x1];
}

/** The randomBits primitive on the host: `count` u32 words for a key. */
export function randomBitsHost(key0: number, key1: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i += 2) {
    const [a, b] = threefry2x32(key0, key1, i / 2, 0);
    out[i] = a;
    if (i + 1 < count) out[i + 1] = b;
  }
  return out;
}
