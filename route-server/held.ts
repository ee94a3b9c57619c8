/**
 * Deliveries a route-server could not route in its first seconds. A freshly
 * (re)started route-server knows nobody: access servers re-register one by
 * one, and a delivery from the first one back to a user of one that is not
 * back yet would be dropped as "receiver offline" while the receiver is
 * online. For `windowMs` after start such deliveries are held (bounded in
 * count and bytes) and retried as servers register; what still has no
 * recipient when the window closes is dropped (the message is stored and
 * counted unread, as for any offline receiver).
 */
export interface HeldOptions {
  windowMs: number;
  maxCount: number;
  maxBytes: number;
  retryEveryMs: number;
}

interface Item {
  retry: () => boolean;
  bytes: number;
}

export class HeldDeliveries {
  readonly stats = { held: 0, released: 0, expired: 0, refused: 0 };
  private readonly startedAt = Date.now();
  private items: Item[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: HeldOptions) {}

  get size(): number {
    return this.items.length;
  }

  /** Keeps `retry` (true once routed) for later; false when outside the window or full. */
  hold(retry: () => boolean, bytes: number): boolean {
    if (Date.now() - this.startedAt >= this.opts.windowMs) return false;
    if (this.items.length >= this.opts.maxCount || this.bytes + bytes > this.opts.maxBytes) {
      this.stats.refused++;
      return false;
    }
    this.items.push({ retry, bytes });
    this.bytes += bytes;
    this.stats.held++;
    this.timer ??= setInterval(() => this.replay(), this.opts.retryEveryMs);
    this.timer.unref();
    return true;
  }

  /** Retries every held delivery in arrival order; drops them all once the window is over. */
  replay(): void {
    const over = Date.now() - this.startedAt >= this.opts.windowMs;
    const keep: Item[] = [];
    for (const item of this.items) {
      let routed = false;
      try {
        routed = item.retry();
      } catch {
        routed = true; // a retry that throws is not retried again
      }
      if (routed) this.stats.released++;
      else if (over) this.stats.expired++;
      else keep.push(item);
    }
    this.items = keep;
    this.bytes = keep.reduce((n, i) => n + i.bytes, 0);
    if ((over || keep.length === 0) && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.items = [];
    this.bytes = 0;
  }
}
