// Runtime · training progress for people: a one-line bar on a terminal (redrawn
// in place), or a plain line every few steps when stderr is a file or a pipe.
// In: step counts, the latest scalars. Out: text on the stream; nothing else.

export interface ProgressOptions {
  readonly label: string;
  readonly total: number;
  /** Defaults to process.stderr; `null` silences the bar. */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } | null;
  /** Without a terminal, print every this many steps (default: 20 lines per run). */
  readonly every?: number;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function scalar(value: number): string {
  return Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(2) : value.toFixed(4);
}

export class Progress {
  private readonly started = performance.now();
  private first: number | undefined;
  private readonly stream: ProgressOptions['stream'];
  private readonly every: number;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream === undefined ? process.stderr : options.stream;
    this.every = options.every ?? Math.max(1, Math.ceil(options.total / 20));
  }

  /** `step` is the number of steps done (1-based); `values` the scalars to show (loss first). */
  update(step: number, values: Readonly<Record<string, number>>): void {
    if (!this.stream) return;
    this.first ??= step - 1;
    const { total, label } = this.options;
    const done = step - this.first;
    const elapsed = (performance.now() - this.started) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = (total - step) / rate;
    const shown = Object.entries(values).map(([k, v]) => `${k} ${scalar(v)}`).join('  ');
    const counts = `${String(step).padStart(String(total).length)}/${total}`;
    const tail = `${counts}  ${shown}  ${rate.toFixed(2)} step/s  ETA ${duration(eta)}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round((step / total) * width);
      const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}`;
      this.stream.write(`\r${line.slice(0, (this.stream.columns ?? 160) - 1)}\x1b[K${step === total ? '\n' : ''}`);
    } else if (step % this.every === 0 || step === total || done === 1) {
      this.stream.write(`${label} ${tail}\n`);
    }
  }

  /** A line of its own (an evaluation, a checkpoint) without breaking the bar. */
  note(text: string): void {
    if (!this.stream) return;
    this.stream.write(this.stream.isTTY ? `\r\x1b[K${text}\n` : `${text}\n`);
  }
}
