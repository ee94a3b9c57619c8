/** What the deadline queue needs of a request. */
export interface Timed {
  /** Date.now() by which it must be answered. */
  deadline: number;
  answered: boolean;
}

/**
 * Every unanswered request in arrival order, with one unref'd timer set to
 * the oldest deadline: deadlines grow with arrival, so only the head can be
 * due. Answered requests leave lazily, when they reach the head; a request
 * that falls due unanswered is handed to `expire`, which must answer it.
 * The queue holds at most what arrived within one deadline span.
 */
export class DeadlineQueue<T extends Timed> {
  private items: T[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly expire: (r: T) => void) {}

  push(r: T): void {
    this.items.push(r);
    if (!this.timer) this.arm();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer = null;
    while (this.head < this.items.length && this.items[this.head]!.answered) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.head >= this.items.length) {
      this.items = [];
      this.head = 0;
      return;
    }
    const wait = Math.max(0, this.items[this.head]!.deadline - Date.now());
    this.timer = setTimeout(() => this.fire(), wait);
    this.timer.unref();
  }

  private fire(): void {
    const now = Date.now();
    while (this.head < this.items.length) {
      const r = this.items[this.head]!;
      if (!r.answered) {
        if (r.deadline > now) break;
        this.expire(r);
        r.answered = true;
      }
      this.head++;
    }
    this.arm();
  }
}
