// Kernel IR · Threefry-2x32-20 as u32 ALU instructions: the randomBits
// primitive inside generated kernels, bit-identical to compiler/ir/random.ts.

import { DType } from '../ir/dtype.ts';
import type { KernelBuilder } from './builder.ts';
import { Alu, type ValueId } from './ir.ts';

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

export function emitThreefry(kb: KernelBuilder, key0: ValueId, key1: ValueId, ctr0: ValueId, ctr1: ValueId): [ValueId, ValueId] {
  const u = DType.U32;
  const c = (v: number) => kb.const(v, u);
  const add = (a: ValueId, b: ValueId) => kb.alu(Alu.Add, u, [a, b]);
  const xor = (a: ValueId, b: ValueId) => kb.alu(Alu.Xor, u, [a, b]);
  const rotl = (x: ValueId, r: number) => kb.alu(Alu.Or, u, [kb.alu(Alu.Shl, u, [x, c(r)]), kb.alu(Alu.Shr, u, [x, c(32 - r)])]);
  const ks = [key0, key1, xor(xor(c(0x1bd11bda), key0), key1)];
  let x0 = add(ctr0, ks[0]!);
  let x1 = add(ctr1, ks[1]!);
  for (let round = 0; round < 20; round++) {
    x0 = add(x0, x1);
    x1 = rotl(x1, ROTATIONS[round % 8]!);
    x1 = xor(x1, x0);
    if (round % 4 === 3) {
      const s = (round + 1) / 4;
      x0 = add(x0, ks[s % 3]!);
      x1 = add(add(x1, ks[(s + 1) % 3]!), c(s));
    }
  }
  return [x0, x1];
}
