import type { BatchRequest } from './batch.ts';

export interface BatcherOptions {
  /** Most requests in one batch. */
  batchMax: number;
  /** How long to gather more requests while other batches are running, in ms. */
  batchWindowMs: number;
  /** Most batches running at once (workers × tasks per worker). */
  maxInFlightBatches: number;
  /** Most requests waiting to be batched; past it `add` refuses. */
  maxQueued: number;
}

export interface QueuedRequest extends BatchRequest {
  /**
   * Requests sharing an ordering key (one conversation) never run in two
   * batches at once, so their msg ids and answers follow arrival order.
   */
  orderKey: string | null;
}

/**
 * Gathers requests into batches. A batch goes out at once when no batch is
 * running (lowest latency when idle), when `batchMax` requests wait, or after
 * `batchWindowMs`; while all batch slots are busy, requests gather (group
 * commit). A request whose ordering key is in a running batch waits for it,
 * and so does every later request with that key.
 */
export class Batcher {
  private queue: QueuedRequest[] = [];
  private inFlight = 0;
  private readonly busyKeys = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly opts: BatcherOptions,
    private readonly run: (batch: QueuedRequest[]) => Promise<void>,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.inFlight;
  }

  /** False (nothing queued) when the queue is full: the caller must refuse the request. */
  add(req: QueuedRequest): boolean {
    if (this.queue.length >= this.opts.maxQueued) return false;
    this.queue.push(req);
    this.schedule();
    return true;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight >= this.opts.maxInFlightBatches) return;
    if (this.inFlight === 0 || this.queue.length >= this.opts.batchMax || this.opts.batchWindowMs <= 0) {
      this.flushSoon();
    } else if (!this.timer && !this.immediate) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.opts.batchWindowMs);
    }
  }

  private flushSoon(): void {
    if (this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.flush();
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0 && this.inFlight < this.opts.maxInFlightBatches) {
      const batch = this.take();
      if (batch.length === 0) break;
      this.start(batch);
    }
    this.checkIdle();
  }

  /** Takes up to batchMax requests whose ordering keys are free, keeping key order. */
  private take(): QueuedRequest[] {
    const batch: QueuedRequest[] = [];
    const rest: QueuedRequest[] = [];
    const blocked = new Set<string>();
    for (const r of this.queue) {
      const k = r.orderKey;
      if (batch.length >= this.opts.batchMax || (k !== null && (this.busyKeys.has(k) || blocked.has(k)))) {
        if (k !== null) blocked.add(k);
        rest.push(r);
      } else {
        batch.push(r);
      }
    }
    this.queue = rest;
    return batch;
  }

  private start(batch: QueuedRequest[]): void {
    this.inFlight++;
    const keys = new Set<string>();
    for (const r of batch) if (r.orderKey !== null) keys.add(r.orderKey);
    for (const k of keys) this.busyKeys.set(k, (this.busyKeys.get(k) ?? 0) + 1);
    this.run(batch).finally(() => {
      this.inFlight--;
      for (const k of keys) {
        const n = this.busyKeys.get(k)! - 1;
        if (n === 0) this.busyKeys.delete(k);
        else this.busyKeys.set(k, n);
      }
      if (this.queue.length > 0) this.flush();
      else this.checkIdle();
    });
  }

  private checkIdle(): void {
    if (this.queue.length === 0 && this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
