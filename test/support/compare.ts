// Test support · how far device outputs are from reference outputs: the worst
// element's error relative to 1 + |ref| (f32 paths), and the worst tensor's
// relative L2 error (bf16 paths, where an upstream difference in the last f32
// bit can flip one operand's rounding and a cancelling sum magnifies that one
// element, not the tensor).

/** The worst output's ‖got − ref‖₂ / ‖ref‖₂ (bf16 error is relative to a tensor's scale, not to each element). */
export function worstNormError(ref: Record<string, { data: Float64Array }>, got: Record<string, Float64Array>): { err: number; where: string } {
  let err = 0;
  let where = '';
  for (const [name, expected] of Object.entries(ref)) {
    let diff = 0;
    let norm = 0;
    expected.data.forEach((e, i) => {
      diff += (got[name]![i]! - e) ** 2;
      norm += e * e;
    });
    const rel = Math.sqrt(diff / Math.max(norm, 1e-30));
    if (!(rel <= err)) {
      err = rel;
      where = `${name}: ‖Δ‖ ${Math.sqrt(diff).toExponential(2)}, ‖ref‖ ${Math.sqrt(norm).toExponential(2)}`;
    }
  }
  return { err, where };
}

/** max |got − ref| / (1 + |ref|) over every output, with where it happened. */
export function worstError(ref: Record<string, { data: Float64Array }>, got: Record<string, Float64Array>): { err: number; where: string } {
  let err = 0;
  let where = '';
  for (const [name, expected] of Object.entries(ref)) {
    expected.data.forEach((e, i) => {
      const d = Math.abs(got[name]![i]! - e) / (1 + Math.abs(e));
      if (!(d <= err)) {
        err = d;
        where = `${name}[${i}]: ${got[name]![i]} vs ${e}`;
      }
    });
  }
  return { err, where };
}
