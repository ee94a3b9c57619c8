import { ErrorCode, ImError } from '../../common/errors.ts';

/** Shard indexes the fence can hold (SHARDS' upper bound). */
export const MAX_FENCED_SHARDS = 1024;

const VERSION = 0;
const GENERATION = 1;
/** Set while this db-proxy's view of the shard map may be stale (its lease ran out): every shard is held. */
const ALL = 2;
const FROZEN = 3;
const IN_FLIGHT = FROZEN + MAX_FENCED_SHARDS;
const SLOTS = IN_FLIGHT + MAX_FENCED_SHARDS;

/**
 * Writes to shard tables, as the shard map's freezes allow them: shared by
 * db-proxy's event loop (which sets freezes as the map's control tables
 * say) and every worker thread (which write), over one SharedArrayBuffer.
 *
 * A writer enters the shards it writes (waiting, bounded, while any is
 * frozen) and leaves them when its rows are settled; the event loop freezes
 * shards and then waits until nothing is in flight in them before it tells
 * the operator tool so. Entering counts first and checks the freeze after,
 * freezing sets the flag first and reads the counts after (sequentially
 * consistent atomics): a write either sees the freeze or is counted by it.
 * The map version in force travels here too, so a worker learns that its
 * copy of the map is old before its next write.
 */
export class ShardFence {
  readonly buffer: SharedArrayBuffer;
  private readonly a: Int32Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SLOTS * 4);
    this.a = new Int32Array(this.buffer);
  }

  /** Version of the shard map in force (0: none recorded yet). */
  get version(): number {
    return Atomics.load(this.a, VERSION);
  }

  set version(v: number) {
    Atomics.store(this.a, VERSION, v);
    this.wake();
  }

  /** Holds writes to `shards`; returns once none is in flight in them, or throws after `timeoutMs`. */
  async freeze(shards: readonly number[], timeoutMs: number): Promise<void> {
    for (const k of shards) Atomics.store(this.a, FROZEN + slot(k), 1);
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight(shards) > 0) {
      if (Date.now() >= deadline) throw new ImError(ErrorCode.TIMEOUT, `writes to shards ${shards.join(',')} still in flight after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Lets writes to every frozen shard go on. */
  unfreeze(): void {
    for (let k = 0; k < MAX_FENCED_SHARDS; k++) Atomics.store(this.a, FROZEN + k, 0);
    this.wake();
  }

  /** Holds writes to every shard: this db-proxy cannot tell whether its map is still the one in force. */
  hold(): void {
    Atomics.store(this.a, ALL, 1);
  }

  /** Takes back `hold` (the map is known fresh again). */
  resume(): void {
    if (Atomics.exchange(this.a, ALL, 0) !== 0) this.wake();
  }

  /** Shards currently frozen (not counting the lease hold). */
  frozen(): number[] {
    const out: number[] = [];
    for (let k = 0; k < MAX_FENCED_SHARDS; k++) if (Atomics.load(this.a, FROZEN + k) !== 0) out.push(k);
    return out;
  }

  /** Whether every shard is held for a stale map. */
  get held(): boolean {
    return Atomics.load(this.a, ALL) !== 0;
  }

  /**
   * Enters `shards` for writing: waits while any is frozen, up to `timeoutMs`
   * (then throws IM_ERR_STORAGE_UNAVAILABLE: nothing was written). Returns
   * the function that leaves them; call it once the rows are settled.
   */
  async enter(shards: readonly number[], timeoutMs: number): Promise<() => void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const gen = Atomics.load(this.a, GENERATION);
      for (const k of shards) Atomics.add(this.a, IN_FLIGHT + slot(k), 1);
      if (!this.blocks(shards)) {
        let left = false;
        return () => {
          if (left) return;
          left = true;
          for (const k of shards) Atomics.sub(this.a, IN_FLIGHT + slot(k), 1);
        };
      }
      for (const k of shards) Atomics.sub(this.a, IN_FLIGHT + slot(k), 1);
      const ms = deadline - Date.now();
      if (ms <= 0) {
        throw new ImError(ErrorCode.STORAGE_UNAVAILABLE, `shards ${shards.join(',')} are frozen for a shard map change`);
      }
      await waitAsync(this.a, GENERATION, gen, ms).value;
    }
  }

  private blocks(shards: readonly number[]): boolean {
    if (Atomics.load(this.a, ALL) !== 0) return true;
    return shards.some((k) => Atomics.load(this.a, FROZEN + slot(k)) !== 0);
  }

  private inFlight(shards: readonly number[]): number {
    let n = 0;
    for (const k of shards) n += Atomics.load(this.a, IN_FLIGHT + slot(k));
    return n;
  }

  private wake(): void {
    Atomics.add(this.a, GENERATION, 1);
    Atomics.notify(this.a, GENERATION);
  }
}

/** Atomics.waitAsync (Node 16+; ES2024's lib types it): a promise, or the outcome at once when the value already differs. */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { value: Promise<string> | string } }).waitAsync;

function slot(k: number): number {
  if (!Number.isInteger(k) || k < 0 || k >= MAX_FENCED_SHARDS) throw new RangeError(`shard ${k} is outside the fence`);
  return k;
}
