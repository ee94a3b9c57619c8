/**
 * Waiting in test helpers for something that events bring (a PDU read, a
 * link accepted): whatever brings it calls wake(), and each waiter looks
 * again then, or once more at its deadline, instead of polling.
 */
export class Waiters {
  private waiting: (() => void)[] = [];

  /** Something may have arrived: every waiter looks again. */
  wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }

  /**
   * Resolves with what `find` finds (anything but undefined), looking at
   * once and after each wake(); rejects with Error(`what`) when it has found
   * nothing after `timeoutMs` (a function is asked at that moment).
   */
  async until<T>(find: () => T | undefined, timeoutMs: number, what: string | (() => string)): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = find();
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(typeof what === 'string' ? what : what());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}
