// Models · every size of spec §5 and the miniature configs of spec §6. Full
// sizes are what the reference checkpoints use (SiT-XL = 675,000,608 params on
// 128×32 MAETok latents); Tiny configs run in unit tests, Mini in the demo.

import type { MAETokConfig } from './maetok.ts';
import type { DiTConfig } from './sit.ts';

const LATENT = { tokens: 128, channels: 32, classes: 1000, frequencyDim: 256, labelDropout: 0.1 } as const;

function dit(name: string, variant: DiTConfig['variant'], depth: number, width: number, heads: number, base: Omit<DiTConfig, 'name' | 'variant' | 'depth' | 'width' | 'heads'> = LATENT): DiTConfig {
  return { ...base, name, variant, depth, width, heads };
}

export const SIT_S = dit('SiT-S', 'sit', 12, 384, 6);
export const SIT_B = dit('SiT-B', 'sit', 12, 768, 12);
export const SIT_L = dit('SiT-L', 'sit', 24, 1024, 16);
export const SIT_XL = dit('SiT-XL', 'sit', 28, 1152, 16);
export const LIGHTNING_DIT_S = dit('LightningDiT-S', 'lightning', 12, 384, 6);
export const LIGHTNING_DIT_B = dit('LightningDiT-B', 'lightning', 12, 768, 12);
export const LIGHTNING_DIT_L = dit('LightningDiT-L', 'lightning', 24, 1024, 16);
export const LIGHTNING_DIT_XL = dit('LightningDiT-XL', 'lightning', 28, 1152, 16);

const TINY = { tokens: 8, channels: 4, classes: 10, frequencyDim: 64, labelDropout: 0.1 } as const;
const MINI = { tokens: 16, channels: 8, classes: 10, frequencyDim: 256, labelDropout: 0.1 } as const;

export const SIT_TINY = dit('SiT-Tiny', 'sit', 2, 64, 2, TINY);
export const SIT_MINI = dit('SiT-Mini', 'sit', 4, 128, 4, MINI);
export const LIGHTNING_DIT_TINY = dit('LightningDiT-Tiny', 'lightning', 2, 64, 2, TINY);
export const LIGHTNING_DIT_MINI = dit('LightningDiT-Mini', 'lightning', 4, 128, 4, MINI);

/** Official image-space SiT-XL/2 (4×32×32 SD-VAE latents, learn_sigma): the 675,129,632 check value. */
export const SIT_XL_2: DiTConfig = { ...SIT_XL, name: 'SiT-XL/2', channels: 4, image: { size: 32, patch: 2 }, learnSigma: true };
/** LightningDiT-XL/1 on 32-channel 16×16 image latents (VA-VAE f16d32), with 2D RoPE. */
export const LIGHTNING_DIT_XL_1_IMAGE: DiTConfig = { ...LIGHTNING_DIT_XL, name: 'LightningDiT-XL/1 (image latents)', image: { size: 16, patch: 1 } };

export const DIT_CONFIGS: readonly DiTConfig[] = [
  SIT_S, SIT_B, SIT_L, SIT_XL, LIGHTNING_DIT_S, LIGHTNING_DIT_B, LIGHTNING_DIT_L, LIGHTNING_DIT_XL,
  SIT_TINY, SIT_MINI, LIGHTNING_DIT_TINY, LIGHTNING_DIT_MINI,
];

// ---- MAETok (spec §2.1, §5.2, §6) ---------------------------------------------------


const MASK = { min: 0.4, max: 0.6, mean: 0.6, std: 0.25 } as const;

export const MAETOK_B: MAETokConfig = {
  name: 'MAETok-B-128',
  imageSize: 256,
  imageChannels: 3,
  patch: 16,
  latentTokens: 128,
  latentChannels: 32,
  encoder: { width: 768, depth: 12, heads: 12 },
  decoder: { width: 768, depth: 12, heads: 12 },
  aux: { width: 192, depth: 3, heads: 3 },
  auxTargets: [
    { name: 'hog', dim: 108 },
    { name: 'dino', dim: 1024 },
    { name: 'clip', dim: 1152 },
  ],
  hog: { cell: 8, window: 16, patch: 16 },
  layerScale: 1e-5,
  ropeTheta: 10,
  decoderDropPath: 0.05,
  mask: MASK,
  decoderBlock: 'modulated',
};

export const MAETOK_B_512: MAETokConfig = { ...MAETOK_B, name: 'MAETok-B-128-512', imageSize: 512 };

const FASHION = { imageSize: 28, imageChannels: 1, patch: 4, hog: { cell: 2, window: 4, patch: 4 }, ropeTheta: 10, decoderDropPath: 0, mask: MASK, decoderBlock: 'modulated' } as const;

export const MAETOK_TINY: MAETokConfig = {
  ...FASHION,
  name: 'MAETok-Tiny',
  latentTokens: 8,
  latentChannels: 4,
  encoder: { width: 32, depth: 1, heads: 2 },
  decoder: { width: 32, depth: 1, heads: 2 },
  aux: { width: 16, depth: 1, heads: 1 },
  auxTargets: [
    { name: 'hog', dim: 36 },
    { name: 'dino', dim: 32 },
  ],
  layerScale: 1e-5,
};

export const MAETOK_MINI: MAETokConfig = {
  ...FASHION,
  name: 'MAETok-Mini',
  latentTokens: 16,
  latentChannels: 8,
  encoder: { width: 64, depth: 4, heads: 4 },
  decoder: { width: 64, depth: 4, heads: 4 },
  aux: { width: 32, depth: 1, heads: 2 },
  auxTargets: [
    { name: 'hog', dim: 36 },
    { name: 'dino', dim: 32 },
  ],
  layerScale: 1e-5,
};
