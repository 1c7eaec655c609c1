// Debug switch · the one dump level every stage reads. In: an explicit level from
// an option object, else the KILN_DEBUG environment variable (read once). Out: a
// number — 0 quiet, 1 kernel list, 2 timings, 3 schedule, 4 generated source.

let fromEnvironment: number | undefined;

function readEnvironment(): number {
  // Browsers have no `process`; the level is then 0 unless an option sets it.
  const raw = typeof process === 'undefined' ? undefined : process.env.KILN_DEBUG;
  if (raw === undefined || raw.trim() === '') return 0;
  const level = Number.parseInt(raw, 10);
  return Number.isFinite(level) && level > 0 ? level : 0;
}

/** The debug level: `override` when given, else KILN_DEBUG as read on first use. */
export function debugLevel(override?: number): number {
  if (override !== undefined) return override;
  fromEnvironment ??= readEnvironment();
  return fromEnvironment;
}
