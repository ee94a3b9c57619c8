import { ErrorCode, ImError } from './errors.ts';

export interface CorrelatorOptions {
  /** Requests awaiting an answer at once; past it `open` refuses (IM_ERR_TOO_MANY_IN_FLIGHT). */
  maxPending: number;
  /**
   * 'seq': ids are 16-bit PDU seq numbers (1..65535) that wrap; an id whose
   * request timed out stays retired until its late answer arrives or the
   * connection ends, so it is never handed to another request.
   * 'request': ids only grow (up to 2^53) and are never reused at all.
   */
  space: 'seq' | 'request';
  /** Most retired seq ids kept; past it the link is too broken to go on (IM_ERR_TOO_MANY_IN_FLIGHT). */
  maxRetired?: number;
}

interface Entry<T> {
  expect: number | undefined;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const SEQ_MAX = 0xffff;

/**
 * The one request correlator of the project: matches an answer to the
 * request it belongs to by id (a per-link request id carried in attach_data,
 * or a PDU seq number where nothing else can travel) and the command it must
 * carry. A timed-out id is never given to another request, so a late answer
 * can only be recognised as late and dropped.
 */
export class Correlator<T> {
  private readonly pending = new Map<number, Entry<T>>();
  private readonly retired = new Set<number>();
  private next = 1;

  constructor(private readonly opts: CorrelatorOptions) {}

  get size(): number {
    return this.pending.size;
  }

  get retiredCount(): number {
    return this.retired.size;
  }

  /**
   * Registers a request: returns its id (to send) and the promise of its
   * answer. Throws IM_ERR_TOO_MANY_IN_FLIGHT when no id can be given.
   */
  open(timeoutMs: number, expect: number | undefined, describe: () => string): { id: number; answer: Promise<T> } {
    const id = this.allocate();
    let entry!: Entry<T>;
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        if (this.opts.space === 'seq') this.retired.add(id);
        reject(new ImError(ErrorCode.TIMEOUT, `no answer in ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      timer.unref();
      entry = { expect, resolve, reject, timer };
    });
    this.pending.set(id, entry);
    return { id, answer };
  }

  /**
   * Hands `value` to the request `id` when it is pending and expects
   * `commandId`. 'late' when the id belongs to a request that timed out
   * (the id is then free again), 'unknown' otherwise.
   */
  settle(id: number, commandId: number, value: () => T): 'settled' | 'late' | 'unknown' {
    const e = this.pending.get(id);
    if (!e || (e.expect !== undefined && e.expect !== commandId)) {
      if (this.retired.delete(id)) return 'late';
      return 'unknown';
    }
    this.pending.delete(id);
    clearTimeout(e.timer);
    try {
      e.resolve(value());
    } catch (err) {
      e.reject(err as Error);
    }
    return 'settled';
  }

  /** Fails one pending request (e.g. it could not be written). */
  fail(id: number, err: Error): void {
    const e = this.pending.get(id);
    if (!e) return;
    this.pending.delete(id);
    clearTimeout(e.timer);
    e.reject(err);
  }

  /** Fails every pending request (the link went down); retired ids are forgotten with the link. */
  failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    this.retired.clear();
    for (const e of all) {
      clearTimeout(e.timer);
      e.reject(err);
    }
  }

  private allocate(): number {
    if (this.pending.size >= this.opts.maxPending) {
      throw new ImError(ErrorCode.TOO_MANY_IN_FLIGHT, `${this.pending.size} requests awaiting an answer`);
    }
    if (this.opts.space === 'request') {
      const id = this.next;
      if (id >= Number.MAX_SAFE_INTEGER) throw new ImError(ErrorCode.TOO_MANY_IN_FLIGHT, 'request ids exhausted on this link');
      this.next = id + 1;
      return id;
    }
    const maxRetired = this.opts.maxRetired ?? 4096;
    if (this.retired.size >= maxRetired || this.pending.size + this.retired.size >= SEQ_MAX) {
      throw new ImError(ErrorCode.TOO_MANY_IN_FLIGHT, `${this.retired.size} timed-out seq numbers still unanswered`);
    }
    for (;;) {
      const id = this.next;
      this.next = id >= SEQ_MAX ? 1 : id + 1;
      if (!this.pending.has(id) && !this.retired.has(id)) return id;
    }
  }
}
