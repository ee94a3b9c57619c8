import type { HandlerContext } from './types.ts';

/** relateId per user pair never changes once made, so each worker caches it (bounded). */
const cache = new Map<string, number>();
const CACHE_MAX = 200_000;

export function pairKey(a: number, b: number): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

/**
 * The IMRelationShip id of every pair, creating missing rows. The unique key
 * on (smallId, bigId) makes concurrent first messages agree on one row.
 */
export async function relationIds(ctx: HandlerContext, pairs: readonly [number, number][]): Promise<Map<string, number>> {
  const { out, missing } = fromCache(pairs);
  if (missing.length === 0) return out;
  const now = ctx.now();
  await ctx.mysql.query(
    ctx.mysql.main,
    `INSERT IGNORE INTO IMRelationShip (smallId, bigId, status, created, updated) VALUES ${missing.map(() => '(?, ?, 0, ?, ?)').join(', ')}`,
    missing.flatMap(([s, b]) => [s, b, now, now]),
  );
  return selectInto(ctx, missing, out);
}

/** Cached ids of `pairs`, and the (small, big) pairs not cached. */
function fromCache(pairs: readonly [number, number][]): { out: Map<string, number>; missing: [number, number][] } {
  const out = new Map<string, number>();
  const missing = new Map<string, [number, number]>();
  for (const [a, b] of pairs) {
    const key = pairKey(a, b);
    const id = cache.get(key);
    if (id !== undefined) out.set(key, id);
    else missing.set(key, a < b ? [a, b] : [b, a]);
  }
  return { out, missing: [...missing.values()] };
}

/** Reads the ids of (small, big) pairs into `out` and the cache; pairs without a row stay absent. */
async function selectInto(ctx: HandlerContext, list: readonly [number, number][], out: Map<string, number>): Promise<Map<string, number>> {
  const rows = await ctx.mysql.query<{ id: number; smallId: number; bigId: number }[]>(
    ctx.mysql.main,
    `SELECT id, smallId, bigId FROM IMRelationShip WHERE (smallId, bigId) IN (${list.map(() => '(?, ?)').join(', ')})`,
    list.flat(),
  );
  if (cache.size + rows.length > CACHE_MAX) cache.clear();
  for (const r of rows) {
    const key = pairKey(r.smallId, r.bigId);
    cache.set(key, r.id);
    out.set(key, r.id);
  }
  return out;
}

/** The relateId of a pair without creating it (0 when none). */
export async function findRelationId(ctx: HandlerContext, a: number, b: number): Promise<number> {
  const key = pairKey(a, b);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const rows = await ctx.mysql.query<{ id: number }[]>(
    ctx.mysql.main,
    'SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?',
    a < b ? [a, b] : [b, a],
  );
  const id = rows[0]?.id ?? 0;
  if (id) cache.set(key, id);
  return id;
}

/**
 * The relateIds of many pairs without creating any, keyed by pairKey; pairs
 * with no relation are left out. One query for the pairs not cached.
 */
export async function findRelationIds(ctx: HandlerContext, pairs: readonly [number, number][]): Promise<Map<string, number>> {
  const { out, missing } = fromCache(pairs);
  return missing.length === 0 ? out : selectInto(ctx, missing, out);
}
