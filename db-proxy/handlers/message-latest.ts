import type { Pool } from 'mysql2/promise';
import { BoundedCache, perOwner } from './bounded-cache.ts';
import { placeholders } from './group-members.ts';
import { VALID_MSG_TYPES } from './message-history.ts';
import type { HandlerContext } from './types.ts';

const SINGLE = 1;

/** A conversation: kind 1 is one-to-one (convId = relateId), kind 2 a group (convId = groupId). */
export interface Conv {
  kind: 1 | 2;
  convId: number;
  /** The msg id believed to be the newest (the Redis counter), 0 when unknown. */
  hint: number;
}

export interface Latest {
  msgId: number;
  fromId: number;
  type: number;
  content: Buffer | string | null;
}

interface Row extends Latest {
  kind: number;
  convId: number;
}

export const convKey = (kind: number, convId: number): string => `${kind}:${convId}`;

/**
 * The newest message seen per conversation, per worker. A stored message
 * never changes: db-proxy has no command that edits or deletes one (TeamTalk
 * has none either; `status` 1 is only ever set by operators), so a row read
 * at (conversation, msgId) stays right for as long as that msgId is the
 * conversation's counter. Only rows found at the counter's own msg id are
 * cached, never a fallback to an older one: the counter's row may still be
 * on its way to being committed.
 */
const cacheOf = perOwner(
  () => new BoundedCache<string, Latest>(100_000, 32 * 1024 * 1024, (m) => 96 + (m.content?.length ?? 0)),
);

function tableOf(kind: number, shard: number): { table: string; conv: string; from: string } {
  return kind === SINGLE
    ? { table: `IMMessage_${shard}`, conv: 'relateId', from: 'fromId' }
    : { table: `IMGroupMessage_${shard}`, conv: 'groupId', from: 'userId' };
}

/** Runs one SELECT per table as one UNION ALL query per MySQL server; all servers in parallel. */
async function perServer(ctx: HandlerContext, parts: { shard: number; sql: string; params: unknown[] }[]): Promise<Row[]> {
  const servers = new Map<Pool, { sql: string[]; params: unknown[] }>();
  for (const p of parts) {
    const pool = ctx.mysql.shard(p.shard);
    let s = servers.get(pool);
    if (!s) servers.set(pool, (s = { sql: [], params: [] }));
    s.sql.push(`(${p.sql})`);
    s.params.push(...p.params);
  }
  const results = await Promise.all([...servers].map(([pool, s]) => ctx.mysql.query<Row[]>(pool, s.sql.join(' UNION ALL '), s.params)));
  return results.flat();
}

/** Groups conversations by shard table. */
function byTable(ctx: HandlerContext, convs: readonly Conv[]): Map<string, { kind: number; shard: number; convs: Conv[] }> {
  const tables = new Map<string, { kind: number; shard: number; convs: Conv[] }>();
  for (const c of convs) {
    const shard = c.convId % ctx.shards;
    const key = convKey(c.kind, shard);
    let t = tables.get(key);
    if (!t) tables.set(key, (t = { kind: c.kind, shard, convs: [] }));
    t.convs.push(c);
  }
  return tables;
}

/**
 * The latest visible (status 0) message of each conversation, keyed by
 * convKey. First from the cache, when it holds the row at the hinted msg
 * id; then by unique key at the hinted msg id (cheap point reads);
 * conversations whose hinted row is missing, deleted or not yet committed
 * fall back to MAX(msgId). A batch costs no query when every hint is
 * cached, else one query per server, two when some hint misses.
 */
export async function latestMessages(ctx: HandlerContext, convs: readonly Conv[]): Promise<Map<string, Latest>> {
  const out = new Map<string, Latest>();
  const cache = cacheOf(ctx.mysql);
  const keep = (rows: Row[]): void => {
    for (const r of rows) if (VALID_MSG_TYPES.has(r.type)) out.set(convKey(r.kind, r.convId), r);
  };
  const hinted: Conv[] = [];
  for (const c of convs) {
    if (c.hint <= 0) continue;
    const key = convKey(c.kind, c.convId);
    const hit = cache.get(key);
    if (hit !== undefined && hit.msgId === c.hint) out.set(key, hit);
    else hinted.push(c);
  }
  if (hinted.length > 0) {
    const rows = await perServer(
      ctx,
      [...byTable(ctx, hinted).values()].map(({ kind, shard, convs: list }) => {
        const { table, conv, from } = tableOf(kind, shard);
        return {
          shard,
          sql: `SELECT ? AS kind, ${conv} AS convId, msgId, ${from} AS fromId, type, content FROM ${table}
                 WHERE status = 0 AND (${conv}, msgId) IN (${list.map(() => '(?, ?)').join(', ')})`,
          params: [kind, ...list.flatMap((c) => [c.convId, c.hint])],
        };
      }),
    );
    keep(rows);
    for (const r of rows) if (VALID_MSG_TYPES.has(r.type)) cache.set(convKey(r.kind, r.convId), detach(r));
  }
  const missing = convs.filter((c) => !out.has(convKey(c.kind, c.convId)));
  if (missing.length > 0) {
    keep(
      await perServer(
        ctx,
        [...byTable(ctx, missing).values()].map(({ kind, shard, convs: list }) => {
          const { table, conv, from } = tableOf(kind, shard);
          return {
            shard,
            sql: `SELECT ? AS kind, m.${conv} AS convId, m.msgId, m.${from} AS fromId, m.type, m.content FROM ${table} m
                   JOIN (SELECT ${conv} AS convId, MAX(msgId) AS msgId FROM ${table}
                          WHERE ${conv} IN (${placeholders(list.length)}) AND status = 0 GROUP BY ${conv}) t
                     ON m.${conv} = t.convId AND m.msgId = t.msgId`,
            params: [kind, ...list.map((c) => c.convId)],
          };
        }),
      ),
    );
  }
  return out;
}

/** What the cache keeps of a row: its own copy of the content, not a view into a larger packet buffer. */
function detach(r: Row): Latest {
  const content = Buffer.isBuffer(r.content) ? Buffer.from(r.content) : r.content;
  return { msgId: r.msgId, fromId: r.fromId, type: r.type, content };
}
