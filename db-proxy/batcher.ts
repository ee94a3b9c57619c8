import type { BatchRequest } from './batch.ts';
import type { Gated, OrderGate } from './order-gate.ts';

export interface BatcherOptions {
  /** Most requests in one batch. */
  batchMax: number;
  /** Most body bytes in one batch (a single larger request still goes, alone). */
  batchMaxBytes: number;
  /** How long to gather more requests while other batches are running, in ms. */
  batchWindowMs: number;
  /** Most batches running at once (workers × tasks per worker). */
  maxInFlightBatches: number;
  /** Most requests waiting to be batched; past it `add` refuses. */
  maxQueued: number;
}

export interface QueuedRequest extends BatchRequest, Gated {
  /** Body bytes this request holds until it is answered. */
  bytes: number;
  /** Date.now() by which it must be answered. */
  deadline: number;
  /** Answered already (expired, refused): a late answer from its batch is dropped. */
  answered: boolean;
  /** In a batch handed to the executor. */
  running: boolean;
}

/**
 * Gathers requests into batches. A batch goes out at once when no batch is
 * running (lowest latency when idle), when `batchMax` requests wait, or after
 * `batchWindowMs`; while all batch slots are busy, requests gather (group
 * commit). A batch closes at `batchMax` requests or `batchMaxBytes` bytes.
 * The shared OrderGate decides which waiting requests may go: one whose
 * key is in a running batch (of this batcher or another) waits for it.
 */
export class Batcher {
  private queue: QueuedRequest[] = [];
  private live = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly opts: BatcherOptions,
    private readonly gate: OrderGate<QueuedRequest>,
    private readonly run: (batch: QueuedRequest[]) => Promise<void>,
  ) {
    gate.onRelease(() => {
      if (this.live > 0) this.flushSoon();
    });
  }

  /** Requests waiting (not yet in a batch, not cancelled). */
  get queued(): number {
    return this.live;
  }

  get running(): number {
    return this.inFlight;
  }

  /** False (nothing queued) when the queue is full: the caller must refuse the request. */
  add(req: QueuedRequest): boolean {
    if (this.live >= this.opts.maxQueued) return false;
    this.queue.push(req);
    this.live++;
    this.gate.enter(req);
    this.schedule();
    return true;
  }

  /** `req`, waiting here, was answered without running: it will be skipped. */
  cancel(req: QueuedRequest): void {
    if (req.running || req.cancelled) return;
    this.live--;
    this.gate.cancel(req);
    this.checkIdle();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.live === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight >= this.opts.maxInFlightBatches) return;
    if (this.inFlight === 0 || this.live >= this.opts.batchMax || this.opts.batchWindowMs <= 0) {
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
    while (this.live > 0 && this.inFlight < this.opts.maxInFlightBatches) {
      const batch = this.take();
      if (batch.length === 0) break;
      this.start(batch);
    }
    this.checkIdle();
  }

  /** Takes up to batchMax requests (and batchMaxBytes bytes) the gate admits, in arrival order. */
  private take(): QueuedRequest[] {
    const batch: QueuedRequest[] = [];
    const rest: QueuedRequest[] = [];
    let bytes = 0;
    let full = false;
    for (const r of this.queue) {
      if (r.cancelled) continue;
      if (!full && batch.length > 0 && (batch.length >= this.opts.batchMax || bytes + r.bytes > this.opts.batchMaxBytes)) full = true;
      if (!full && this.gate.admits(r, batch)) {
        this.gate.take(r, batch);
        r.running = true;
        batch.push(r);
        bytes += r.bytes;
      } else {
        rest.push(r);
      }
    }
    this.queue = rest;
    this.live -= batch.length;
    return batch;
  }

  private start(batch: QueuedRequest[]): void {
    this.inFlight++;
    this.run(batch).finally(() => {
      this.inFlight--;
      this.gate.release(batch, batch); // wakes every batcher, this one included
      this.checkIdle();
    });
  }

  private checkIdle(): void {
    if (this.live === 0 && this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
