/**
 * --verify: checks storage against what the load generators recorded.
 *  - every acked message is exactly one stored row (relateId/groupId, msgId);
 *  - unread deltas: `unread_{to}` field `{from}` after − before = acks of the pair;
 *    group totals `{groupId}_im_group_msg` count after − before = acks of the group;
 *  - msg ids strictly increase per conversation in ack order (one connection per conversation).
 */
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { parseShardMap } from '../../db-proxy/storage/shard-map.ts';
import { readAcks } from './ack-log.ts';
import { AckKind, pairFrom, pairTo, userCount, type Population } from './types.ts';

const SHIFT = 4294967296;

export interface Counters {
  single: Float64Array;
  group: Float64Array;
}

export interface VerifyResult {
  passed: boolean;
  acked: number;
  missing: number;
  duplicateRows: number;
  duplicateAcks: number;
  /** Stored rows of the load users that no ack accounts for (timeouts, seeded history excluded). */
  unackedRows: number;
  unreadMismatches: number;
  groupCounterMismatches: number;
  orderViolations: number;
  notes: string[];
}

/** Unread counters of every pair and group totals of every group. */
export async function snapshotCounters(redisUrl: string, keyPrefix: string, pop: Population): Promise<Counters> {
  const redis = new Redis(redisUrl, { keyPrefix, maxRetriesPerRequest: 2 });
  try {
    const pipe = redis.pipeline();
    for (let p = 0; p < pop.pairs; p++) pipe.hget(`unread_${pairTo(p)}`, String(pairFrom(p)));
    for (let g = 0; g < pop.groups; g++) pipe.hget(`${pop.groupIdBase + g}_im_group_msg`, 'count');
    const res = (await pipe.exec()) ?? [];
    const n = res.map(([err, v]) => {
      if (err) throw err;
      return Number(v ?? 0);
    });
    return { single: Float64Array.from(n.slice(0, pop.pairs)), group: Float64Array.from(n.slice(pop.pairs)) };
  } finally {
    redis.disconnect();
  }
}

function sorted(list: number[]): Float64Array {
  return Float64Array.from(list).sort();
}

/** Ack keys vs row keys (both sorted): missing, duplicated rows, duplicated acks, rows no ack explains. */
function compare(acks: Float64Array, rows: Float64Array): { missing: number; dupRows: number; dupAcks: number; extra: number } {
  let i = 0;
  let j = 0;
  let missing = 0;
  let dupRows = 0;
  let dupAcks = 0;
  let extra = 0;
  while (i < acks.length || j < rows.length) {
    if (j >= rows.length || (i < acks.length && acks[i]! < rows[j]!)) {
      missing++;
      i++;
    } else if (i >= acks.length || rows[j]! < acks[i]!) {
      extra++;
      j++;
    } else {
      const k = acks[i]!;
      let a = 0;
      let r = 0;
      for (; i < acks.length && acks[i] === k; i++) a++;
      for (; j < rows.length && rows[j] === k; j++) r++;
      dupAcks += a - 1;
      dupRows += r - 1;
    }
  }
  return { missing, dupRows, dupAcks, extra };
}

export async function verify(
  mysqlUrl: string,
  shards: number,
  pop: Population,
  ackFiles: string[],
  before: Counters,
  after: Counters,
  seededRows: number,
  shardMap = '',
): Promise<VerifyResult> {
  const conn = await mysql.createConnection({ uri: mysqlUrl });
  // Each shard's rows are read where SHARD_MAP puts them.
  const map = parseShardMap(mysqlUrl, shards, shardMap);
  const others = new Map<string, mysql.Connection>();
  const onShard = async (s: number): Promise<mysql.Connection> => {
    const url = map.shardUrls[s]!;
    if (url === mysqlUrl) return conn;
    let c = others.get(url);
    if (!c) others.set(url, (c = await mysql.createConnection({ uri: url })));
    return c;
  };
  try {
    const [rel] = await conn.query<mysql.RowDataPacket[]>('SELECT id, smallId FROM IMRelationShip WHERE bigId <= ?', [userCount(pop)]);
    const relateOf = new Float64Array(pop.pairs);
    for (const r of rel) relateOf[((r.smallId as number) - 1) / 2] = r.id as number;
    const perPair = new Float64Array(pop.pairs);
    const perGroup = new Float64Array(pop.groups);
    const lastSingle = new Float64Array(pop.pairs);
    const lastGroup = new Float64Array(pop.groups);
    const singleKeys: number[] = [];
    const groupKeys: number[] = [];
    let orderViolations = 0;
    for (const file of ackFiles) {
      const a = readAcks(file);
      for (let x = 0; x < a.length; x += 3) {
        const [kind, target, msgId] = [a[x]!, a[x + 1]!, a[x + 2]!];
        const conv = kind === AckKind.SINGLE ? target : Math.floor(target / pop.groupSize);
        const last = kind === AckKind.SINGLE ? lastSingle : lastGroup;
        if (msgId <= last[conv]!) orderViolations++;
        last[conv] = msgId;
        if (kind === AckKind.SINGLE) {
          perPair[conv]!++;
          singleKeys.push(relateOf[conv]! * SHIFT + msgId);
        } else {
          perGroup[conv]!++;
          groupKeys.push((pop.groupIdBase + conv) * SHIFT + msgId);
        }
      }
    }
    const singleRows: number[] = [];
    const groupRows: number[] = [];
    for (let s = 0; s < shards; s++) {
      const sc = await onShard(s);
      const [rows] = await sc.query<mysql.RowDataPacket[]>(`SELECT relateId, msgId FROM IMMessage_${s} WHERE fromId <= ?`, [userCount(pop)]);
      for (const r of rows) singleRows.push((r.relateId as number) * SHIFT + (r.msgId as number));
      const [grows] = await sc.query<mysql.RowDataPacket[]>(`SELECT groupId, msgId FROM IMGroupMessage_${s} WHERE groupId >= ? AND groupId < ?`, [
        pop.groupIdBase,
        pop.groupIdBase + pop.groups,
      ]);
      for (const r of grows) groupRows.push((r.groupId as number) * SHIFT + (r.msgId as number));
    }
    const single = compare(sorted(singleKeys), sorted(singleRows));
    const group = compare(sorted(groupKeys), sorted(groupRows));
    let unreadMismatches = 0;
    let groupCounterMismatches = 0;
    const notes: string[] = [];
    for (let p = 0; p < pop.pairs; p++) {
      if (after.single[p]! - before.single[p]! === perPair[p]) continue;
      if (unreadMismatches++ < 5) notes.push(`pair ${pairFrom(p)}→${pairTo(p)}: unread delta ${after.single[p]! - before.single[p]!}, acks ${perPair[p]}`);
    }
    for (let g = 0; g < pop.groups; g++) {
      if (after.group[g]! - before.group[g]! === perGroup[g]) continue;
      if (groupCounterMismatches++ < 5) notes.push(`group ${pop.groupIdBase + g}: counter delta ${after.group[g]! - before.group[g]!}, acks ${perGroup[g]}`);
    }
    const unackedRows = single.extra + group.extra - seededRows;
    const result = {
      acked: singleKeys.length + groupKeys.length,
      missing: single.missing + group.missing,
      duplicateRows: single.dupRows + group.dupRows,
      duplicateAcks: single.dupAcks + group.dupAcks,
      unackedRows,
      unreadMismatches,
      groupCounterMismatches,
      orderViolations,
    };
    const passed = result.missing + result.duplicateRows + result.duplicateAcks + unreadMismatches + groupCounterMismatches + orderViolations === 0;
    if (unackedRows > 0) notes.push(`${unackedRows} stored messages were never acked (timed out or refused after commit); their unread counts explain delta > acks`);
    return { passed, ...result, notes };
  } finally {
    await conn.end();
    for (const c of others.values()) await c.end().catch(() => undefined);
  }
}
