// Bench · what is measured. In: a workload name and a seed. Out: its sizes, how
// many runs it gets, its throughput unit, and the host data (float32) that every
// library uploads once before timing — the same bytes for kiln and every peer, so
// outputs can be compared value for value.

export const WORKLOAD_NAMES = ['matmul', 'elementwise', 'layernorm', 'block-train', 'block-forward', 'sit-mini-train', 'maetok-mini-train'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export interface Workload {
  readonly name: WorkloadName;
  /** The row label of the table. */
  readonly title: string;
  readonly runs: number;
  readonly warmup: number;
  /** Timing stops once this much wall time is spent (after at least `minRuns`); the table shows the runs made. */
  readonly budgetSeconds: number;
  /** Throughput shown next to the time: work per run in the unit's base (flop, bytes). */
  readonly rate?: { readonly unit: 'GFLOP/s' | 'GB/s'; readonly perRun: number };
  /** False for kiln-only workloads (the model training steps, behind --models). */
  readonly peers: boolean;
}

export const MIN_RUNS = 3;

export const MATMUL_N = 1024;
export const ELEMENTWISE_SIZE = 4 * 1024 * 1024;
export const LAYERNORM = { rows: 4096, cols: 768, eps: 1e-5 } as const;
export const BLOCK = { tokens: 64, width: 256, heads: 4, mlpRatio: 4, eps: 1e-6, trainBatch: 8, forwardBatch: 32 } as const;

/**
 * The elementwise chain, 10 ops over x ∈ [−1, 1), written once more in each
 * library: mul, add, sin, mul, exp, add, mul, add, sqrt, sub.
 */
export const ELEMENTWISE_CHAIN = 'y = sqrt((e + x)² + 1) − x, e = exp(sin(1.5x + 0.25)·x)';

/** The host oracle of the chain (float64), for the correctness check. */
export function elementwiseReference(x: number): number {
  const e = Math.exp(Math.sin(x * 1.5 + 0.25) * x);
  const f = e + x;
  return Math.sqrt(f * f + 1) - x;
}

export const WORKLOADS: Readonly<Record<WorkloadName, Workload>> = {
  matmul: {
    name: 'matmul', title: `matmul ${MATMUL_N}×${MATMUL_N} @ ${MATMUL_N}×${MATMUL_N}`, runs: 5, warmup: 1, budgetSeconds: 30,
    rate: { unit: 'GFLOP/s', perRun: 2 * MATMUL_N ** 3 }, peers: true,
  },
  elementwise: {
    name: 'elementwise', title: `elementwise chain, 10 ops, 4M floats`, runs: 10, warmup: 2, budgetSeconds: 30,
    // one read of x and one write of y, whether or not a library fuses the chain
    rate: { unit: 'GB/s', perRun: 2 * 4 * ELEMENTWISE_SIZE }, peers: true,
  },
  layernorm: {
    name: 'layernorm', title: `layerNorm [${LAYERNORM.rows}, ${LAYERNORM.cols}] + affine`, runs: 10, warmup: 2, budgetSeconds: 30,
    rate: { unit: 'GB/s', perRun: 2 * 4 * LAYERNORM.rows * LAYERNORM.cols }, peers: true,
  },
  'block-train': {
    name: 'block-train', title: `transformer block train step (fwd+bwd), B=${BLOCK.trainBatch}`, runs: 3, warmup: 1, budgetSeconds: 30, peers: true,
  },
  'block-forward': {
    name: 'block-forward', title: `transformer block forward, B=${BLOCK.forwardBatch}`, runs: 3, warmup: 1, budgetSeconds: 30, peers: true,
  },
  'sit-mini-train': {
    name: 'sit-mini-train', title: 'SiT-Mini train step (fwd+bwd+AdamW), B=8', runs: 3, warmup: 1, budgetSeconds: 60, peers: false,
  },
  'maetok-mini-train': {
    name: 'maetok-mini-train', title: 'MAETok-Mini stage-1 train step (fwd+bwd+AdamW), B=8', runs: 3, warmup: 1, budgetSeconds: 90, peers: false,
  },
};

/** Workloads run by default; the model steps need --models (kiln only, seconds per step on lavapipe). */
export const DEFAULT_WORKLOADS: readonly WorkloadName[] = ['matmul', 'elementwise', 'layernorm', 'block-train', 'block-forward'];
export const MODEL_WORKLOADS: readonly WorkloadName[] = ['sit-mini-train', 'maetok-mini-train'];

// ---- data ------------------------------------------------------------------------

export interface Param {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export type WorkloadData =
  | { readonly kind: 'matmul'; readonly n: number; readonly a: Float32Array; readonly b: Float32Array }
  | { readonly kind: 'elementwise'; readonly x: Float32Array }
  | { readonly kind: 'layernorm'; readonly rows: number; readonly cols: number; readonly eps: number; readonly x: Float32Array; readonly weight: Float32Array; readonly bias: Float32Array }
  | { readonly kind: 'block'; readonly train: boolean; readonly batch: number; readonly x: Float32Array; readonly params: Readonly<Record<string, Param>> }
  | { readonly kind: 'model'; readonly model: 'sit-mini' | 'maetok-mini'; readonly batch: number };

/** mulberry32: a tiny seeded generator; the data only has to be the same for every library. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(size: number, seed: number, low = -1, high = 1): Float32Array {
  const next = generator(seed);
  return Float32Array.from({ length: size }, () => low + (high - low) * next());
}

function normal(size: number, seed: number, std = 1, mean = 0): Float32Array {
  const next = generator(seed);
  return Float32Array.from({ length: size }, () => mean + std * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()));
}

/**
 * The parameters of one pre-norm ViT block in the reference layout (torch Linear
 * weights are [out, in]); peers that want [in, out] transpose them once at upload.
 */
export function blockParams(seed: number): Record<string, Param> {
  const d = BLOCK.width;
  const hidden = BLOCK.mlpRatio * d;
  const shapes: [string, number[]][] = [
    ['norm1.weight', [d]], ['norm1.bias', [d]],
    ['attn.qkv.weight', [3 * d, d]], ['attn.qkv.bias', [3 * d]],
    ['attn.proj.weight', [d, d]], ['attn.proj.bias', [d]],
    ['norm2.weight', [d]], ['norm2.bias', [d]],
    ['mlp.fc1.weight', [hidden, d]], ['mlp.fc1.bias', [hidden]],
    ['mlp.fc2.weight', [d, hidden]], ['mlp.fc2.bias', [d]],
  ];
  return Object.fromEntries(shapes.map(([name, shape], i) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = name.startsWith('norm') && name.endsWith('.weight') ? normal(size, seed + i, 0.1, 1)
      : shape.length === 2 ? normal(size, seed + i, 1 / Math.sqrt(shape[1]!))
        : normal(size, seed + i, 0.1);
    return [name, { shape, values }];
  }));
}

export function workloadData(name: WorkloadName, seed = 1): WorkloadData {
  switch (name) {
    case 'matmul':
      return { kind: 'matmul', n: MATMUL_N, a: uniform(MATMUL_N * MATMUL_N, seed), b: uniform(MATMUL_N * MATMUL_N, seed + 1) };
    case 'elementwise':
      return { kind: 'elementwise', x: uniform(ELEMENTWISE_SIZE, seed) };
    case 'layernorm': {
      const { rows, cols, eps } = LAYERNORM;
      return { kind: 'layernorm', rows, cols, eps, x: normal(rows * cols, seed, 2, 0.5), weight: normal(cols, seed + 1, 0.1, 1), bias: normal(cols, seed + 2, 0.1) };
    }
    case 'block-train':
    case 'block-forward': {
      const train = name === 'block-train';
      const batch = train ? BLOCK.trainBatch : BLOCK.forwardBatch;
      return { kind: 'block', train, batch, x: normal(batch * BLOCK.tokens * BLOCK.width, seed), params: blockParams(seed + 100) };
    }
    case 'sit-mini-train':
      return { kind: 'model', model: 'sit-mini', batch: 8 };
    case 'maetok-mini-train':
      return { kind: 'model', model: 'maetok-mini', batch: 8 };
    default:
      return name satisfies never;
  }
}
