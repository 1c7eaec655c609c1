// DSL · type-level shapes. Shapes are tuples of number literals where known, so
// tsc rejects a matmul with mismatched inner dims or an add of shapes that do not
// broadcast. A dim typed `number` is unknown and accepted; the trace-time check
// (compiler/ir/infer.ts) still catches it.

export type Shape = readonly number[];

type BroadcastDim<A extends number, B extends number> = A extends 1
  ? B
  : B extends 1
    ? A
    : number extends A
      ? B
      : number extends B
        ? A
        : A extends B
          ? A
          : never;

/** numpy broadcasting of two shapes; `never` appears at an axis that does not broadcast. */
export type Broadcast<A extends Shape, B extends Shape> = number[] extends A
  ? Shape
  : number[] extends B
    ? Shape
    : A extends readonly []
      ? [...B]
      : B extends readonly []
        ? [...A]
        : A extends readonly [...infer AH extends Shape, infer AL extends number]
          ? B extends readonly [...infer BH extends Shape, infer BL extends number]
            ? [...Broadcast<AH, BH>, BroadcastDim<AL, BL>]
            : never
          : never;

type HasNever<T> = T extends readonly [infer H, ...infer R] ? ([H] extends [never] ? true : HasNever<R>) : false;

/** [] when A and B broadcast, else a one-element tuple whose label explains the error at the call site. */
export type BroadcastCheck<A extends Shape, B extends Shape> = [Broadcast<A, B>] extends [never]
  ? [shapesDoNotBroadcast: never]
  : HasNever<Broadcast<A, B>> extends true
    ? [shapesDoNotBroadcast: never]
    : [];

type Last<S extends Shape> = S extends readonly [...Shape, infer L extends number] ? L : number;
type SecondLast<S extends Shape> = S extends readonly [...Shape, infer L extends number, number] ? L : number;
type Batch<S extends Shape> = S extends readonly [...infer H extends Shape, number, number] ? H : Shape;

type SameDim<A extends number, B extends number> = number extends A ? true : number extends B ? true : A extends B ? (B extends A ? true : false) : false;

/** [] when the inner dims of a matmul agree (or are unknown), else an error label. */
export type MatmulCheck<A extends Shape, B extends Shape> = SameDim<Last<A>, SecondLast<B>> extends true
  ? BroadcastCheck<Batch<A>, Batch<B>>
  : [innerDimensionsDiffer: never];

/** Output shape of a rank ≥ 2 matmul: broadcast batch, then [M, N]. */
export type MatmulShape<A extends Shape, B extends Shape> = number[] extends A
  ? Shape
  : number[] extends B
    ? Shape
    : [...Broadcast<Batch<A>, Batch<B>>, SecondLast<A>, Last<B>];

/** Shape after permuting axes by a literal permutation. */
export type Permuted<S extends Shape, P extends readonly number[]> = number[] extends S
  ? Shape
  : { -readonly [K in keyof P]: P[K] extends number ? S[P[K]] : never };
