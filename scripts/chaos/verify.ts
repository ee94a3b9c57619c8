/**
 * After a scenario: every message it sent, checked against MySQL (rows
 * matched by their unique text) and Redis (`unread_{to}` field `{from}`,
 * TeamTalk's key; receivers never read-ack, so every stored row of a pair
 * is unread). Storage may still be recovering: reads are retried (bounded).
 */
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { pairFrom, pairTo } from '../bench/types.ts';
import { expectsPush, type Load } from './load.ts';

export interface Verdict {
  sent: number;
  acked: number;
  refused: number;
  /** No answer: timed out, or the connection was lost. */
  unanswered: number;
  /** Turns skipped: the sender was disconnected or had its window full. */
  skipped: number;
  /** Acked, and no row with that text and that msg id. */
  lost: number;
  /** Rows beyond the first of the same message. */
  duplicates: number;
  /** Answered "not stored" (msg id 0), yet stored. */
  refusedStored: number;
  /** No answer, yet stored (the client cannot know). */
  unansweredStored: number;
  /** Stored or acked msg ids not strictly increasing in send order, per pair. */
  orderViolations: number;
  /** Acked, receiver online throughout, never pushed. */
  unpushedOnline: number;
  /** Acked, not pushed, and not counted unread either. */
  unpushedUncounted: number;
  /** Pairs whose unread counter differs from their stored rows; and the summed differences. */
  unreadWrongPairs: number;
  unreadMissing: number;
  unreadExtra: number;
  pushDuplicates: number;
  pushOrderViolations: number;
  notes: string[];
}

export function emptyVerdict(): Verdict {
  return {
    sent: 0, acked: 0, refused: 0, unanswered: 0, skipped: 0, lost: 0, duplicates: 0, refusedStored: 0, unansweredStored: 0,
    orderViolations: 0, unpushedOnline: 0, unpushedUncounted: 0, unreadWrongPairs: 0, unreadMissing: 0, unreadExtra: 0,
    pushDuplicates: 0, pushOrderViolations: 0, notes: [],
  };
}

async function retried<T>(what: string, work: () => Promise<T>, notes: string[]): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      if (attempt === 1) notes.push(`${what}: ${(err as Error).message} (retried)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Stored rows of the scenario: text → msg ids. */
async function storedRows(mysqlUrl: string, shards: number, scenario: string): Promise<Map<string, number[]>> {
  const conn = await mysql.createConnection({ uri: mysqlUrl, connectTimeout: 3000 });
  const rows = new Map<string, number[]>();
  try {
    for (let s = 0; s < shards; s++) {
      const [res] = await conn.query<RowDataPacket[]>(`SELECT msgId, content FROM IMMessage_${s} WHERE content LIKE ?`, [`chaos ${scenario} %`]);
      for (const r of res) rows.set(String(r.content), [...(rows.get(String(r.content)) ?? []), Number(r.msgId)]);
    }
  } finally {
    await conn.end();
  }
  return rows;
}

/**
 * Waits (bounded) until db-proxy trusts the unread counters again: its
 * marker (`db_proxy_counters_run_id`) names the running Redis and no rebuild
 * holds the lock. Counters are checked once they are promised exact; how
 * long that took is part of the report. Null: not within `timeoutMs`.
 */
async function countersTrusted(redisUrl: string, timeoutMs: number): Promise<number | null> {
  const started = Date.now();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    while (Date.now() - started < timeoutMs) {
      const runId = /run_id:([0-9a-f]+)/.exec(await redis.info('server'))?.[1];
      const [marker, lock] = await redis.mget('db_proxy_counters_run_id', 'db_proxy_counters_rebuild_lock');
      if (runId && marker === runId && lock === null) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 100));
    }
    return null;
  } finally {
    redis.disconnect();
  }
}

async function unreadCounters(redisUrl: string, load: Load): Promise<number[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
  try {
    await redis.connect();
    const pipe = redis.pipeline();
    for (const s of load.pairs) pipe.hget(`unread_${pairTo(s.pair)}`, String(pairFrom(s.pair)));
    return ((await pipe.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return Number(v ?? 0);
    });
  } finally {
    redis.disconnect();
  }
}

export async function verify(load: Load, storage: { mysqlUrl: string; redisUrl: string; shards: number }): Promise<Verdict> {
  const notes: string[] = [];
  const rows = await retried('MySQL', () => storedRows(storage.mysqlUrl, storage.shards, load.scenario), notes);
  const trustedAfterMs = await retried('Redis', () => countersTrusted(storage.redisUrl, 60_000), notes);
  if (trustedAfterMs === null) notes.push('unread counters still not rebuilt after 60 s');
  else if (trustedAfterMs > 200) notes.push(`unread counters trusted again ${trustedAfterMs} ms after the load ended`);
  const unread = await retried('Redis', () => unreadCounters(storage.redisUrl, load), notes);
  const v: Verdict = { ...emptyVerdict(), skipped: load.skipped, notes };
  load.pairs.forEach((s, i) => {
    let lastStored = 0;
    let lastAcked = 0;
    let storedCount = 0;
    let notPushed = 0;
    for (const m of s.msgs) {
      const ids = rows.get(load.textOf(s.pair, m.seq)) ?? [];
      storedCount += ids.length;
      v.sent++;
      if (ids.length > 1) v.duplicates += ids.length - 1;
      for (const id of ids) {
        if (id <= lastStored) v.orderViolations++;
        lastStored = Math.max(lastStored, id);
      }
      v.pushDuplicates += Math.max(0, m.pushes - 1);
      if (m.msgId > 0) {
        v.acked++;
        if (!ids.includes(m.msgId)) v.lost++;
        if (m.msgId <= lastAcked) v.orderViolations++;
        lastAcked = Math.max(lastAcked, m.msgId);
        if (m.pushes === 0) {
          notPushed++;
          if (expectsPush(s, m)) v.unpushedOnline++;
        }
      } else if (m.msgId === 0) {
        v.refused++;
        if (ids.length > 0) v.refusedStored++;
      } else {
        v.unanswered++;
        if (ids.length > 0) v.unansweredStored++;
      }
    }
    v.pushOrderViolations += s.pushOrderViolations;
    const counter = unread[i]!;
    if (counter !== storedCount) {
      if (v.unreadWrongPairs++ < 3) notes.push(`pair ${s.pair}: unread counter ${counter}, ${storedCount} rows stored`);
      v.unreadMissing += Math.max(0, storedCount - counter);
      v.unreadExtra += Math.max(0, counter - storedCount);
    }
    v.unpushedUncounted += Math.min(notPushed, Math.max(0, storedCount - counter));
  });
  if (load.unknownPushes > 0) notes.push(`${load.unknownPushes} pushes of texts never sent`);
  return v;
}
