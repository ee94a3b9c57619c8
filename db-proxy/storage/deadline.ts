import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The time (Date.now() ms) by which the batch being run must be answered.
 * The batch runner sets it once per batch; every MySQL wait inside the batch
 * (a pool connection, a statement) is cut to what is left of it, so a frozen
 * server costs a bounded wait, not the sum of many timeouts. Work outside a
 * batch (background resolution) has no deadline and uses the plain bounds.
 */
const store = new AsyncLocalStorage<number>();

export function withDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  return store.run(deadline, fn);
}

/** Runs `fn` with no batch deadline, even when called from inside a batch. */
export function withoutDeadline<T>(fn: () => T): T {
  return store.exit(fn);
}

/** `boundMs`, cut to what is left of the current deadline (never below 0). */
export function remainingMs(boundMs: number): number {
  const d = store.getStore();
  return d === undefined ? boundMs : Math.max(0, Math.min(boundMs, d - Date.now()));
}
