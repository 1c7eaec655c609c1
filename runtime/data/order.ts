// Runtime data · the order in which training visits a dataset. In: dataset size,
// batch size, seed, epoch or step. Out: dataset indices. Every answer is a pure
// function of its arguments (Threefry, no hidden generator state), so a run
// resumed at step s draws exactly the batches the uninterrupted run drew.

import { threefry2x32 } from '../../compiler/ir/random.ts';

/** Second key word of the shuffle; the first is the seed. Other streams use other words. */
const SHUFFLE_KEY = 0x5eed;

function checkCount(what: string, value: number, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new RangeError(`${what} must be an integer ≥ ${minimum}, got ${value}`);
  }
}

function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2³²), got ${seed}`);
  }
}

/**
 * Fisher–Yates over 0…n−1, swap i drawing threefry(seed, SHUFFLE_KEY; i, epoch).
 * `bits % (i + 1)` is biased by at most (i + 1) / 2³², invisible at dataset
 * sizes, and kept because it pins the order older runs trained with.
 */
function shuffle(n: number, seed: number, epoch: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const [bits] = threefry2x32(seed, SHUFFLE_KEY, i, epoch);
    const j = bits % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * A seeded permutation of 0…n−1 (Fisher–Yates driven by Threefry); the same as epoch 0 of `epochOrder`.
 * @example
 *   permutation(5, 0) // a Uint32Array holding 0…4 once each, the same on every call
 */
export function permutation(n: number, seed: number): Uint32Array {
  return shuffle(n, seed, 0);
}

/**
 * The visiting order of epoch `epoch` (0-based): a fresh seeded permutation per epoch.
 * @example
 *   const first = epochOrder(60000, 1, 0), second = epochOrder(60000, 1, 1); // two different shuffles
 */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  checkCount('dataset size n', n, 1);
  checkSeed(seed);
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new RangeError(`epoch must be an integer in [0, 2³²), got ${epoch}`);
  return shuffle(n, seed, epoch);
}

// batchIndices asks for the same epoch on every step of that epoch; keeping the
// last two orders (a batch may straddle an epoch boundary) makes a step O(batch)
// instead of O(n). Never handed out, so callers cannot corrupt it.
const recent: { n: number; seed: number; epoch: number; order: Uint32Array }[] = [];

function cachedEpochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const hit = recent.find((entry) => entry.n === n && entry.seed === seed && entry.epoch === epoch);
  if (hit) return hit.order;
  const order = shuffle(n, seed, epoch);
  recent.unshift({ n, seed, epoch, order });
  recent.length = Math.min(recent.length, 2);
  return order;
}

/**
 * Dataset indices of 0-based training step `step`: positions step·batch … step·batch + batch − 1
 * of the endless stream epochOrder(…, 0), epochOrder(…, 1), …. A batch that crosses an epoch
 * boundary takes the end of one epoch and the start of the next, so every epoch visits every
 * index exactly once whatever the batch size.
 * @example
 *   batchIndices(60000, 32, 0, 1874) // the last 32 of epoch 0 (60000 = 1875 · 32)
 */
export function batchIndices(n: number, batch: number, seed: number, step: number): Uint32Array {
  checkCount('dataset size n', n, 1);
  checkCount('batch', batch, 1);
  checkSeed(seed);
  checkCount('step', step, 0);
  const start = step * batch;
  if (!Number.isSafeInteger(start + batch)) throw new RangeError(`step ${step} × batch ${batch} runs past 2⁵³ positions`);
  const out = new Uint32Array(batch);
  let epoch = Math.floor(start / n);
  let offset = start - epoch * n;
  for (let filled = 0; filled < batch; ) {
    if (epoch > 0xffffffff) throw new RangeError(`step ${step} reaches epoch ${epoch}, past the 2³² epochs the shuffle counts`);
    const order = cachedEpochOrder(n, seed, epoch);
    const take = Math.min(batch - filled, n - offset);
    out.set(order.subarray(offset, offset + take), filled);
    filled += take;
    epoch += 1;
    offset = 0;
  }
  return out;
}
