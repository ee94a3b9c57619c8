/**
 * --verify of the cluster benchmark: every acked message was delivered to
 * its (online) receiver, or is stored and counted unread. Stored: the rows
 * of each pair in IMMessage_* are at least the pair's acks (a fresh
 * database, so nothing else is there; a send that timed out may be stored unacked, so
 * more is allowed). Counted unread: `unread_{to}` field `{from}` is at least
 * the pair's acks (receivers never send a read ack). Delivered:
 * what the generators matched ack against push, per msg id.
 */
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { pairFrom, pairTo } from './types.ts';

export interface ClusterVerify {
  passed: boolean;
  acked: number;
  delivered: number;
  /** Acked, never pushed (allowed only if stored and counted unread). */
  undelivered: number;
  duplicates: number;
  orderViolations: number;
  /** Rows stored for the pairs; above `acked` when unacked sends were stored. */
  storedRows: number;
  /** Pairs with fewer stored rows than acks. */
  rowMismatches: number;
  /** Pairs whose unread counter is below their acks. */
  unreadMismatches: number;
  notes: string[];
}

export interface DeliveryTotals {
  ackedPerPair: Map<number, number>;
  undelivered: number;
  duplicates: number;
  orderViolations: number;
  undeliveredSample: [number, number][];
}

async function rowsPerPair(mysqlUrl: string, shards: number): Promise<Map<string, number>> {
  const conn = await mysql.createConnection({ uri: mysqlUrl });
  const rows = new Map<string, number>();
  try {
    for (let s = 0; s < shards; s++) {
      const [res] = await conn.query<RowDataPacket[]>(`SELECT fromId, toId, COUNT(*) AS n FROM IMMessage_${s} GROUP BY fromId, toId`);
      for (const r of res) rows.set(`${r.fromId}>${r.toId}`, (rows.get(`${r.fromId}>${r.toId}`) ?? 0) + Number(r.n));
    }
  } finally {
    await conn.end();
  }
  return rows;
}

async function unreadPerPair(redisUrl: string, keyPrefix: string, pairs: number[]): Promise<number[]> {
  const redis = new Redis(redisUrl, { keyPrefix, maxRetriesPerRequest: 2 });
  try {
    const pipe = redis.pipeline();
    for (const p of pairs) pipe.hget(`unread_${pairTo(p)}`, String(pairFrom(p)));
    return ((await pipe.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return Number(v ?? 0);
    });
  } finally {
    redis.disconnect();
  }
}

export async function verifyCluster(
  storage: { mysqlUrl: string; redisUrl: string; keyPrefix: string; shards: number },
  totals: DeliveryTotals,
): Promise<ClusterVerify> {
  const notes: string[] = [];
  const rows = await rowsPerPair(storage.mysqlUrl, storage.shards);
  const pairs = [...totals.ackedPerPair.keys()];
  const unread = await unreadPerPair(storage.redisUrl, storage.keyPrefix, pairs);
  let acked = 0;
  let rowMismatches = 0;
  let unreadMismatches = 0;
  pairs.forEach((p, i) => {
    const n = totals.ackedPerPair.get(p)!;
    acked += n;
    const stored = rows.get(`${pairFrom(p)}>${pairTo(p)}`) ?? 0;
    if (stored < n && rowMismatches++ < 5) notes.push(`pair ${p}: ${n} acked, ${stored} rows stored`);
    if (unread[i]! < n && unreadMismatches++ < 5) notes.push(`pair ${p}: ${n} acked, unread counter ${unread[i]}`);
  });
  const storedRows = [...rows.values()].reduce((a, b) => a + b, 0);
  if (storedRows !== acked) notes.push(`${storedRows} rows stored for ${acked} acks (timed-out sends may be stored unacked)`);
  for (const [p, id] of totals.undeliveredSample.slice(0, 5)) notes.push(`pair ${p}: msg #${id} acked, never pushed to the online receiver`);
  return {
    passed: rowMismatches === 0 && unreadMismatches === 0 && totals.duplicates === 0 && totals.orderViolations === 0,
    acked,
    delivered: acked - totals.undelivered,
    undelivered: totals.undelivered,
    duplicates: totals.duplicates,
    orderViolations: totals.orderViolations,
    storedRows,
    rowMismatches,
    unreadMismatches,
    notes,
  };
}
