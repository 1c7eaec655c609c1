// Runtime io · loss curves as SVG. In: named series of per-step values. Out: a
// self-contained SVG document (axes, "nice" ticks, labels, a legend, one
// polyline per series) as a string, or a file on disk. Point i of a series is
// drawn at step i + 1; non-finite values (and non-positive ones on a log axis)
// are left out, so a diverged step cannot break the picture.

import { writeFileSync } from 'node:fs';

export interface Series {
  readonly name: string;
  readonly values: readonly number[];
}

export interface PlotOptions {
  readonly title: string;
  /** Pixels. Default 640 × 400. */
  readonly width?: number;
  readonly height?: number;
  /** Logarithmic y axis. Default false. */
  readonly logY?: boolean;
  /**
   * Trailing moving-average window in steps. When > 1 each series is drawn twice:
   * the raw values faintly, the smoothed values on top. Default 1 (no smoothing).
   */
  readonly smoothing?: number;
  readonly xLabel?: string;
  readonly yLabel?: string;
}

// Tableau 10, the matplotlib default cycle.
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'] as const;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 } as const;

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

/**
 * Trailing moving average: entry i is the mean of values max(0, i − window + 1) … i.
 * @example
 *   movingAverage([1, 2, 3, 4], 2) // [1, 1.5, 2.5, 3.5]
 */
export function movingAverage(values: readonly number[], window: number): number[] {
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`smoothing window must be a positive integer, got ${window}`);
  const out: number[] = [];
  let sum = 0;
  let count = 0;
  const finite = values.map((v) => Number.isFinite(v));
  for (let i = 0; i < values.length; i++) {
    if (finite[i]) { sum += values[i]!; count++; }
    if (i >= window && finite[i - window]) { sum -= values[i - window]!; count--; }
    // A step with no finite value in its window stays NaN and is left out of the line.
    out.push(finite[i] && count > 0 ? sum / count : NaN);
  }
  return out;
}

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k, about `count` of them. */
function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(0).replace('e+', 'e');
  return String(Number(value.toPrecision(6)));
}

/**
 * Renders training curves as an SVG document.
 * @example
 *   lossPlotSvg([{ name: 'train', values: losses }], { title: 'SiT-S/2 loss', logY: true, smoothing: 20 })
 */
export function lossPlotSvg(series: readonly Series[], options: PlotOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const logY = options.logY ?? false;
  const smoothing = options.smoothing ?? 1;
  if (!Number.isFinite(width) || !Number.isFinite(height) || width <= MARGIN.left + MARGIN.right || height <= MARGIN.top + MARGIN.bottom) {
    throw new RangeError(`plot size ${width}×${height} leaves no room inside the ${MARGIN.left + MARGIN.right}×${MARGIN.top + MARGIN.bottom} px margins`);
  }
  if (!Number.isInteger(smoothing) || smoothing < 1) throw new RangeError(`smoothing must be a positive integer, got ${smoothing}`);
  const drawable = (v: number) => Number.isFinite(v) && (!logY || v > 0);
  const transform = (v: number) => (logY ? Math.log10(v) : v);

  // Data ranges; an empty or flat range is widened so the axes still make sense.
  // Loops, not Math.min(...values): spreading a long run's values overflows the call stack.
  let steps = 1;
  let yLo = Infinity;
  let yHi = -Infinity;
  for (const s of series) {
    steps = Math.max(steps, s.values.length);
    for (const v of s.values) {
      if (!drawable(v)) continue;
      yLo = Math.min(yLo, transform(v));
      yHi = Math.max(yHi, transform(v));
    }
  }
  if (yLo > yHi) [yLo, yHi] = [0, 1];
  if (yHi - yLo < 1e-12 * Math.max(1, Math.abs(yHi))) [yLo, yHi] = [yLo - (logY ? 0.5 : Math.max(1e-3, Math.abs(yLo) * 0.1)), yHi + (logY ? 0.5 : Math.max(1e-3, Math.abs(yHi) * 0.1))];
  const xLo = 1;
  const xHi = Math.max(2, steps);
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const px = (step: number) => MARGIN.left + ((step - xLo) / (xHi - xLo)) * plotWidth;
  const py = (t: number) => MARGIN.top + (1 - (t - yLo) / (yHi - yLo)) * plotHeight;
  const fixed = (v: number) => v.toFixed(2);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${fixed(width / 2)}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`);

  // Axes and ticks (log axes tick at powers of ten; decades may be sparse, so fall back to nice ticks).
  const xTicks = niceTicks(xLo, xHi, 8).filter((t) => t >= xLo && Number.isInteger(t));
  let yTicks = logY ? niceTicks(yLo, yHi, 6).filter((t) => Number.isInteger(t)) : niceTicks(yLo, yHi, 6);
  if (logY && yTicks.length < 2) yTicks = niceTicks(yLo, yHi, 6);
  parts.push(`<g class="axes" stroke="#333" stroke-width="1">`);
  parts.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top + plotHeight}" x2="${MARGIN.left + plotWidth}" y2="${MARGIN.top + plotHeight}"/>`);
  parts.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotHeight}"/>`);
  for (const t of xTicks) parts.push(`<line x1="${fixed(px(t))}" y1="${MARGIN.top + plotHeight}" x2="${fixed(px(t))}" y2="${MARGIN.top + plotHeight + 5}"/>`);
  for (const t of yTicks) parts.push(`<line x1="${MARGIN.left - 5}" y1="${fixed(py(t))}" x2="${MARGIN.left}" y2="${fixed(py(t))}"/>`);
  parts.push(`</g>`);
  parts.push(`<g class="grid" stroke="#ddd" stroke-width="1">`);
  for (const t of yTicks) parts.push(`<line x1="${MARGIN.left}" y1="${fixed(py(t))}" x2="${MARGIN.left + plotWidth}" y2="${fixed(py(t))}"/>`);
  parts.push(`</g>`);
  parts.push(`<g class="tick-labels" fill="#333">`);
  for (const t of xTicks) parts.push(`<text x="${fixed(px(t))}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle">${formatTick(t)}</text>`);
  for (const t of yTicks) parts.push(`<text x="${MARGIN.left - 8}" y="${fixed(py(t) + 4)}" text-anchor="end">${formatTick(logY ? 10 ** t : t)}</text>`);
  parts.push(`</g>`);
  parts.push(`<text x="${fixed(MARGIN.left + plotWidth / 2)}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel ?? 'step')}</text>`);
  parts.push(`<text x="14" y="${fixed(MARGIN.top + plotHeight / 2)}" text-anchor="middle" transform="rotate(-90 14 ${fixed(MARGIN.top + plotHeight / 2)})">${escapeXml(options.yLabel ?? (logY ? 'loss (log scale)' : 'loss'))}</text>`);

  const line = (values: readonly number[], color: string, extra: string, name: string) => {
    const points = values.flatMap((v, i) => (drawable(v) ? [`${fixed(px(i + 1))},${fixed(py(transform(v)))}`] : []));
    return `<polyline data-series="${escapeXml(name)}" fill="none" stroke="${color}" stroke-width="1.5"${extra} points="${points.join(' ')}"/>`;
  };
  parts.push(`<g class="series">`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    if (smoothing > 1) {
      parts.push(line(s.values, color, ' stroke-opacity="0.25"', s.name));
      parts.push(line(movingAverage(s.values, smoothing), color, '', `${s.name} (smoothed)`));
    } else {
      parts.push(line(s.values, color, '', s.name));
    }
  });
  parts.push(`</g>`);

  parts.push(`<g class="legend">`);
  series.forEach((s, i) => {
    const y = MARGIN.top + 12 + 16 * i;
    const x = MARGIN.left + plotWidth - 150;
    parts.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 20}" y2="${y - 4}" stroke="${COLORS[i % COLORS.length]!}" stroke-width="2"/>`);
    parts.push(`<text x="${x + 26}" y="${y}">${escapeXml(s.name)}</text>`);
  });
  parts.push(`</g>`);
  parts.push(`</svg>`);
  return parts.join('\n') + '\n';
}

/**
 * Writes `lossPlotSvg(series, options)` to `path`.
 * @example
 *   writeLossPlot('runs/sit/loss.svg', [{ name: 'train', values: losses }], { title: 'loss' })
 */
export function writeLossPlot(path: string, series: readonly Series[], options: PlotOptions): void {
  writeFileSync(path, lossPlotSvg(series, options));
}
