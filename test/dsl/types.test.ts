// Type-level and trace-time shape checks: tsc must reject mismatched literal
// shapes (each `@ts-expect-error` fails the typecheck if the error disappears),
// and the same mistakes with unknown shapes are caught at trace time with the
// op, both shapes and the caller's file:line.

import { describe, expect, it } from 'vitest';
import { DType, ShapeError, trace, spec, type Tensor, type Shape } from '../../dsl/index.ts';

describe('tsc rejects shape mistakes on literal shapes', () => {
  it('rejects a matmul with mismatched inner dims, and still throws at trace time', () => {
    expect(() =>
      trace((ctx) => {
        const a = ctx.input('a', [2, 3] as const);
        const b = ctx.input('b', [4, 5] as const);
        // @ts-expect-error inner dims 3 and 4 differ
        return a.matmul(b);
      }),
    ).toThrow(ShapeError);
  });

  it('accepts a matmul whose inner dims agree and types the result', () => {
    trace((ctx) => {
      const a = ctx.input('a', [7, 2, 3] as const);
      const b = ctx.input('b', [3, 5] as const);
      const c: Tensor<readonly [7, 2, 5], DType.F32> = a.matmul(b);
      expect(c.shape).toEqual([7, 2, 5]);
      return c;
    });
  });

  it('rejects an add of non-broadcastable literal shapes, and still throws at trace time', () => {
    expect(() =>
      trace((ctx) => {
        const a = ctx.input('a', [2, 3] as const);
        const b = ctx.input('b', [4, 3] as const);
        // @ts-expect-error [2,3] and [4,3] do not broadcast
        return a.add(b);
      }),
    ).toThrow(ShapeError);
  });

  it('types a broadcast add with the numpy result shape', () => {
    trace((ctx) => {
      const a = ctx.input('a', [8, 1, 3] as const);
      const b = ctx.input('b', [5, 1] as const);
      const c: Tensor<readonly [8, 5, 3], DType.F32> = a.add(b);
      expect(c.shape).toEqual([8, 5, 3]);
      return c;
    });
  });

  it('rejects mixing dtypes at the type level', () => {
    expect(() =>
      trace((ctx) => {
        const a = ctx.input('a', [2] as const);
        const i = ctx.input('i', [2] as const, DType.I32);
        // @ts-expect-error f32 + i32 needs an explicit cast
        return a.add(i);
      }),
    ).toThrow(/cast/);
  });
});

describe('trace-time ShapeError', () => {
  it('names the op, both shapes and the file:line of the user call', () => {
    const wide = [2, 3] as Shape;
    const tall = [4, 5] as Shape;
    let caught: unknown;
    const line = new Error().stack!.split('\n')[1]!.match(/:(\d+):\d+\)?$/)![1]!;
    try {
      trace((ctx) => ctx.input('a', wide).matmul(ctx.input('b', tall))); // two lines below `line`
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ShapeError);
    const message = (caught as ShapeError).message;
    expect(message).toContain('matmul');
    expect(message).toContain('[2,3]');
    expect(message).toContain('[4,5]');
    expect((caught as ShapeError).location).toBe(`test/dsl/types.test.ts:${Number(line) + 2}`);
    expect(message).toContain(`test/dsl/types.test.ts:${Number(line) + 2}`);
  });

  it('points into a model file rather than the library when a layer is misused', () => {
    const error = (() => {
      try {
        trace((ctx, { x }) => x.reshape([5, 5]), { x: spec([2, 12]) });
      } catch (e) {
        return e as ShapeError;
      }
      return undefined;
    })();
    expect(error?.op).toBe('reshape');
    expect(error?.message).toMatch(/\[2,12\].*\[5,5\]/);
    expect(error?.location).toMatch(/^test\/dsl\/types\.test\.ts:\d+$/);
  });
});
