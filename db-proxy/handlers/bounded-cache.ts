/**
 * A least-recently-used map bounded by entry count and by an estimate of
 * the bytes it holds, and the per-storage home of such caches: a cache
 * belongs to one set of connections (one worker, or one test context), so
 * two databases in one process never share cached rows.
 */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, { value: V; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes = Infinity,
    private readonly sizeOf: (value: V) => number = () => 0,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    // Map keeps insertion order: re-inserting makes it the most recent.
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const bytes = this.sizeOf(value);
    if (bytes > this.maxBytes) return;
    this.map.set(key, { value, bytes });
    this.bytes += bytes;
    while (this.map.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
  }

  delete(key: K): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.bytes -= e.bytes;
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

/**
 * One cache per owner object (the worker's MySQL handle): `make` runs the
 * first time an owner asks; the cache goes when the owner does.
 */
export function perOwner<T>(make: () => T): (owner: object) => T {
  const caches = new WeakMap<object, T>();
  return (owner) => {
    let c = caches.get(owner);
    if (c === undefined) caches.set(owner, (c = make()));
    return c;
  };
}
