import type { Pool } from 'mysql2/promise';
import { classify, ER_DUP_ENTRY, isTransient, serverErrno } from '../storage/mysql-errors.ts';
import { insertTransaction, type Outcome, type Row } from './message-insert.ts';
import type { HandlerContext } from './types.ts';

/** What is stored at a row's (conversation, msgId): this row, another one, or nothing. */
export type Found = 'ours' | 'other' | 'absent';

/**
 * Reads rows back by (relateId, msgId) / (groupId, msgId) (the unique keys),
 * one SELECT per table in one UNION ALL round trip, and compares what is
 * stored (fromId, content) with each row.
 */
export async function readBack(ctx: HandlerContext, pool: Pool, rows: readonly Row[]): Promise<Map<Row, Found>> {
  const tables = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.group ? 'g' : 's'}${r.convId % ctx.shards}`;
    let list = tables.get(key);
    if (!list) tables.set(key, (list = []));
    list.push(r);
  }
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const list of tables.values()) {
    const { group, convId } = list[0]!;
    const shard = convId % ctx.shards;
    const [table, conv, from] = group ? [`IMGroupMessage_${shard}`, 'groupId', 'userId'] : [`IMMessage_${shard}`, 'relateId', 'fromId'];
    parts.push(
      `(SELECT ${group ? 1 : 0} AS g, ${conv} AS convId, msgId, ${from} AS fromId, content FROM ${table} WHERE (${conv}, msgId) IN (${list
        .map(() => '(?, ?)')
        .join(', ')}))`,
    );
    for (const r of list) params.push(r.convId, r.msgId);
  }
  const stored = await ctx.mysql.query<{ g: number; convId: number; msgId: number; fromId: number; content: Buffer | string | null }[]>(
    pool,
    parts.join(' UNION ALL '),
    params,
  );
  const byKey = new Map(stored.map((s) => [`${Number(s.g)}:${s.convId}:${s.msgId}`, s]));
  const out = new Map<Row, Found>();
  for (const r of rows) {
    const s = byKey.get(`${r.group ? 1 : 0}:${r.convId}:${r.msgId}`);
    if (!s) out.set(r, 'absent');
    else out.set(r, Number(s.fromId) === r.fromId && contentOf(s.content).equals(r.content) ? 'ours' : 'other');
  }
  return out;
}

function contentOf(c: Buffer | string | null): Buffer {
  if (c === null) return Buffer.alloc(0);
  return typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
}

/**
 * Stores one row, or finds it stored: insert it alone; a duplicate key means
 * a row is committed at its (conversation, msgId), so read it back: ours
 * means stored (an earlier attempt did commit), another means refused.
 * `doubt`: an earlier attempt may have committed, so a retry that fails
 * leaves the outcome unknown (except a duplicate key, which is decisive).
 * Without doubt, a retry that surely did nothing means refused.
 *
 * A SELECT that finds nothing proves nothing while an earlier attempt may
 * still be on its way to the server (a frozen server runs it when it wakes);
 * the insert does: once it commits, the earlier attempt can only fail on
 * the unique key.
 */
export async function confirmRow(ctx: HandlerContext, pool: Pool, row: Row, doubt: boolean): Promise<Outcome> {
  try {
    await insertTransaction(ctx, pool, [[row]]);
    return 'stored';
  } catch (err) {
    if (serverErrno(err) === ER_DUP_ENTRY) {
      try {
        const found = (await readBack(ctx, pool, [row])).get(row);
        return found === 'ours' ? 'stored' : found === 'other' ? 'refused' : 'unknown';
      } catch {
        return 'unknown';
      }
    }
    const failure = classify(err);
    if (doubt || failure === 'unknown') return 'unknown';
    ctx.log.warn({ err, convId: row.convId, msgId: row.msgId, transient: isTransient(err) }, 'message not stored');
    return 'refused';
  }
}
