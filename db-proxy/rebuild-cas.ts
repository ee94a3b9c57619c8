import type { Redis } from 'ioredis';
import type { HandlerContext } from './handlers/types.ts';

export interface RebuildOptions {
  /** Relations or groups per batch. */
  batch: number;
  /** Wait between reading Redis and counting in MySQL, so work under way lands first. */
  settleMs: number;
  /** Attempts per batch for counters that traffic kept changing. */
  maxRounds: number;
  /** Called after each batch (the caller extends its lock). */
  onBatch?: () => Promise<void>;
}

/** Conversations rebuilt, and those left because traffic kept changing them. */
export interface RebuildResult {
  done: number;
  left: number;
}

/**
 * Compare-and-set of counters: KEYS[1] is a msg id counter (string), the
 * other keys hashes with the field named in ARGV; every value must still be
 * what was read (ARGV: n fields, n expected values, n new values; '' stands
 * for missing) before the new values are written (0 deletes the field).
 * The counter is only compared. Returns 1 when written, 0 when anything moved.
 */
const CAS = `
local n = #KEYS
for i = 1, n do
  local v
  if i == 1 then v = redis.call('GET', KEYS[i]) else v = redis.call('HGET', KEYS[i], ARGV[i]) end
  if (v or '') ~= ARGV[n + i] then return 0 end
end
for i = 2, n do
  local new = tonumber(ARGV[2 * n + i])
  if new > 0 then redis.call('HSET', KEYS[i], ARGV[i], new) else redis.call('HDEL', KEYS[i], ARGV[i]) end
end
return 1
`;

interface CasRedis {
  rebuildCas(numKeys: number, ...args: (string | number)[]): Promise<number>;
}

/** Defines the compare-and-set script on `redis` (before any command is sent on it). */
export function withRebuildCas(redis: Redis): Redis {
  if (typeof (redis as unknown as Partial<CasRedis>).rebuildCas !== 'function') redis.defineCommand('rebuildCas', { lua: CAS });
  return redis;
}

export function settle(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export interface CasSpec<T> {
  /** The counter key, then the hash keys. */
  keys(item: T): string[];
  /** Field of each key ('' for the counter). */
  fields(item: T): string[];
  /** New value of each key (index 0 ignored), from MySQL. */
  compute(items: readonly T[]): Promise<number[][]>;
}

/**
 * Read, settle, count, compare-and-set, for every item; items whose values
 * moved meanwhile (messages or read acks of that conversation) go round
 * again, up to `maxRounds`. Returns how many items could not be written.
 */
export async function casAll<T>(ctx: HandlerContext, opts: RebuildOptions, items: readonly T[], spec: CasSpec<T>): Promise<number> {
  let pending = [...items];
  for (let round = 0; round < opts.maxRounds && pending.length > 0; round++) {
    const read = ctx.redis.pipeline();
    for (const it of pending) {
      const keys = spec.keys(it);
      const fields = spec.fields(it);
      keys.forEach((k, i) => (i === 0 ? read.get(k) : read.hget(k, fields[i]!)));
    }
    const seen = ((await read.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v === null || v === undefined ? '' : String(v);
    });
    await settle(opts.settleMs);
    const values = await spec.compute(pending);
    const write = ctx.redis.pipeline() as unknown as CasRedis & ReturnType<Redis['pipeline']>;
    let at = 0;
    pending.forEach((it, j) => {
      const keys = spec.keys(it);
      const expected = seen.slice(at, at + keys.length);
      at += keys.length;
      void write.rebuildCas(keys.length, ...keys, ...spec.fields(it), ...expected, ...values[j]!.map(String));
    });
    const results = (await write.exec()) ?? [];
    const next: T[] = [];
    results.forEach(([err, ok], j) => {
      if (err) throw err;
      if (Number(ok) !== 1) next.push(pending[j]!);
    });
    pending = next;
  }
  if (pending.length > 0) ctx.log.warn({ left: pending.length }, 'counters kept changing; left for the next rebuild');
  return pending.length;
}
