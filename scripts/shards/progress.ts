/**
 * A progress line for long copies: done / total rows, rows/s and ETA. On a
 * terminal it redraws one line; otherwise it prints a line every few seconds.
 */
export class Progress {
  private label = '';
  private total = 0;
  private done = 0;
  private started = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {}

  start(label: string, total: number): void {
    this.finish();
    this.label = label;
    this.total = Math.max(total, 0);
    this.done = 0;
    this.started = Date.now();
    this.lastDraw = 0;
    this.draw(true);
  }

  tick(rows: number): void {
    this.done += rows;
    if (this.done > this.total) this.total = this.done;
    this.draw(false);
  }

  /** Rows per second since start(). */
  get rate(): number {
    const s = (Date.now() - this.started) / 1000;
    return s > 0 ? this.done / s : 0;
  }

  get rows(): number {
    return this.done;
  }

  finish(): void {
    if (this.label === '') return;
    this.draw(true);
    if (this.out.isTTY && !this.quiet) this.out.write('\n');
    this.label = '';
  }

  private draw(force: boolean): void {
    if (this.quiet || this.label === '') return;
    const now = Date.now();
    const tty = this.out.isTTY === true;
    if (!force && now - this.lastDraw < (tty ? 100 : 3000)) return;
    this.lastDraw = now;
    const frac = this.total > 0 ? this.done / this.total : 1;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const rate = this.rate;
    const eta = rate > 0 ? Math.max(0, (this.total - this.done) / rate) : 0;
    const line = `${this.label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${this.done.toLocaleString('en')}/${this.total.toLocaleString('en')} rows ${Math.round(rate).toLocaleString('en')} rows/s ETA ${eta.toFixed(0)} s`;
    this.out.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  }
}
