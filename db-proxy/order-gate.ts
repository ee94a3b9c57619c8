/** What the gate needs to know of a request. */
export interface Gated {
  commandId: number;
  /** Ordering keys (conversations, users); requests sharing one run in arrival order. */
  keys: readonly string[];
  /** Answered without running (it expired while queued): the gate skips it. */
  cancelled: boolean;
}

interface KeyState<T> {
  /** Unfinished requests with this key, in arrival order. */
  fifo: T[];
  /** The batch holding the first `taken` entries of `fifo`, or null. */
  batch: object | null;
  taken: number;
  commandId: number;
}

/**
 * Per-key arrival order, shared by every batcher. A request may join a batch
 * only if every earlier unfinished request with one of its keys is already
 * in that same batch, for the same command: requests of one key therefore
 * never run in two batches at once, nor out of arrival order, whichever
 * batcher queued them, and inside a batch one handler sees them in order.
 * The oldest waiting request is always admissible once the batches ahead of
 * it finish, so nothing waits forever.
 */
export class OrderGate<T extends Gated> {
  private readonly states = new Map<string, KeyState<T>>();
  private readonly wakers: (() => void)[] = [];

  /** `wake` runs whenever a batch releases its keys: waiting requests may have become admissible. */
  onRelease(wake: () => void): void {
    this.wakers.push(wake);
  }

  get size(): number {
    return this.states.size;
  }

  enter(r: T): void {
    for (const k of r.keys) {
      let s = this.states.get(k);
      if (!s) this.states.set(k, (s = { fifo: [], batch: null, taken: 0, commandId: 0 }));
      s.fifo.push(r);
    }
  }

  admits(r: T, batch: object): boolean {
    for (const k of r.keys) {
      const s = this.states.get(k);
      if (!s) return false;
      skipCancelled(s);
      if (s.fifo[s.taken] !== r) return false;
      if (s.batch !== null && (s.batch !== batch || s.commandId !== r.commandId)) return false;
    }
    return true;
  }

  /** `r` (admitted) joins `batch`. */
  take(r: T, batch: object): void {
    for (const k of r.keys) {
      const s = this.states.get(k)!;
      s.batch = batch;
      s.commandId = r.commandId;
      s.taken++;
    }
  }

  /** `batch` finished: its requests leave the gate, and every batcher is woken. */
  release(batch: object, requests: readonly T[]): void {
    for (const r of requests) {
      for (const k of r.keys) {
        const s = this.states.get(k);
        if (!s || s.batch !== batch) continue;
        s.fifo.splice(0, s.taken);
        s.taken = 0;
        s.batch = null;
        this.tidy(k, s);
      }
    }
    for (const wake of this.wakers) wake();
  }

  /** `r`, still waiting, was answered without running. */
  cancel(r: T): void {
    r.cancelled = true;
    for (const k of r.keys) {
      const s = this.states.get(k);
      if (s) this.tidy(k, s);
    }
    for (const wake of this.wakers) wake();
  }

  private tidy(k: string, s: KeyState<T>): void {
    skipCancelled(s);
    if (s.fifo.length === 0) this.states.delete(k);
  }
}

function skipCancelled<T extends Gated>(s: KeyState<T>): void {
  while (s.taken < s.fifo.length && s.fifo[s.taken]!.cancelled) s.fifo.splice(s.taken, 1);
}
