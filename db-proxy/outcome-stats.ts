/**
 * Counters of message outcomes, shared by the workers and the event loop
 * (one SharedArrayBuffer, atomic adds), shown in /metrics.
 */
const FIELDS = [
  /** Messages a worker answered "outcome unknown" (flagged msg_id 0). */
  'unknownAnswered',
  /** Messages whose ambiguous failure was resolved, before answering, as stored. */
  'storedAfterDoubt',
  /** Unknown outcomes later resolved as stored. */
  'resolvedStored',
  /** Unknown outcomes later resolved as not stored (their unread count taken back). */
  'resolvedAbsent',
  /** Unknown outcomes still being resolved (a gauge). */
  'unresolved',
  /** Unknown outcomes given up on because the list was full. */
  'unresolvedDropped',
  /** Text messages refused before a msg id: too long for the column, or not UTF-8. */
  'refusedText',
] as const;

export type OutcomeField = (typeof FIELDS)[number];

export class OutcomeCounters {
  readonly buffer: SharedArrayBuffer;
  private readonly view: BigInt64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(FIELDS.length * 8);
    this.view = new BigInt64Array(this.buffer);
  }

  add(field: OutcomeField, n = 1): void {
    if (n !== 0) Atomics.add(this.view, FIELDS.indexOf(field), BigInt(n));
  }

  get(field: OutcomeField): number {
    return Number(Atomics.load(this.view, FIELDS.indexOf(field)));
  }
}

const bound = new WeakMap<object, OutcomeCounters>();

/** Makes `counters` the ones handlers running on `owner` (a context's MySQL handle) count into. */
export function bindOutcomeCounters(owner: object, counters: OutcomeCounters): void {
  bound.set(owner, counters);
}

/** The counters of `owner`; a private set when none was bound (handler tests). */
export function outcomeCountersOf(owner: object): OutcomeCounters {
  let c = bound.get(owner);
  if (!c) bound.set(owner, (c = new OutcomeCounters()));
  return c;
}
