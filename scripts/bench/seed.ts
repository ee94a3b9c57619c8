/**
 * Seeds a fresh benchmark database: users (TeamTalk's password scheme,
 * md5hex(md5hex(password) + salt)), the relation of every pair, groups with
 * members, and — for the list workload — some history per pair, written
 * through db-proxy's own message handler so it is exactly what db-proxy
 * would have stored.
 */
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { msgData } from '../../db-proxy/handlers/message-data.ts';
import type { HandlerContext } from '../../db-proxy/handlers/types.ts';
import { CONTENT, md5hex, MSG_TEXT } from './workload.ts';
import { groupMember, pairFrom, pairTo, userCount, userName, userPassword, type Population } from './types.ts';

const CHUNK = 1000;
const GROUP_LIVE = 0;
const MEMBER_ACTIVE = 0;

async function insertChunks(conn: mysql.Connection, head: string, rows: unknown[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const part = rows.slice(i, i + CHUNK);
    await conn.query(`${head} VALUES ?`, [part]);
  }
}

/** Users 1..2·pairs (rows already there are kept), relations of the pairs (and of `extraPairs`, [from, to]), groups and members. */
export async function seedPopulation(mysqlUrl: string, pop: Population, extraPairs: [number, number][]): Promise<void> {
  const conn = await mysql.createConnection({ uri: mysqlUrl });
  const now = Math.floor(Date.now() / 1000);
  try {
    const users = Array.from({ length: userCount(pop) }, (_, i) => {
      const uid = i + 1;
      const salt = (1000 + (uid % 9000)).toString();
      return [uid, userName(uid), `bench ${uid}`, md5hex(md5hex(userPassword(uid)) + salt), salt, 1, 0, now, now];
    });
    await insertChunks(conn, 'INSERT IGNORE INTO IMUser (id, name, nick, password, salt, departId, status, created, updated)', users);
    const pairs: [number, number][] = Array.from({ length: pop.pairs }, (_, p) => [pairFrom(p), pairTo(p)]);
    const rel = [...pairs, ...extraPairs].map(([a, b]) => [Math.min(a, b), Math.max(a, b), 0, now, now]);
    await insertChunks(conn, 'INSERT IGNORE INTO IMRelationShip (smallId, bigId, status, created, updated)', rel);
    if (pop.groups > 0) {
      const groups = Array.from({ length: pop.groups }, (_, g) => [pop.groupIdBase + g, `bench group ${g}`, groupMember(pop, g, 0), 1, pop.groupSize, GROUP_LIVE, now, now]);
      await insertChunks(conn, 'INSERT IGNORE INTO IMGroup (id, name, creator, type, userCnt, status, created, updated)', groups);
      const members = groups.flatMap((_, g) =>
        Array.from({ length: pop.groupSize }, (__, m) => [pop.groupIdBase + g, groupMember(pop, g, m), MEMBER_ACTIVE, now, now]),
      );
      await insertChunks(conn, 'INSERT IGNORE INTO IMGroupMember (groupId, userId, status, created, updated)', members);
    }
  } finally {
    await conn.end();
  }
}

/** `perPair` messages in every pair's history, through db-proxy's handler, 256 a batch. */
export async function seedHistory(ctx: HandlerContext, pop: Population, perPair: number): Promise<number> {
  const reqs = [];
  for (let k = 0; k < perPair; k++) {
    for (let p = 0; p < pop.pairs; p++) {
      reqs.push({ fromUserId: pairFrom(p), toSessionId: pairTo(p), msgId: 0, createTime: 0, msgType: MSG_TEXT, msgData: CONTENT });
    }
  }
  let stored = 0;
  for (let i = 0; i < reqs.length; i += 256) {
    const answers = await msgData.run(ctx, reqs.slice(i, i + 256));
    stored += answers.filter((a) => ((a?.message as { msgId?: number } | undefined)?.msgId ?? 0) > 0).length;
  }
  return stored;
}

/**
 * TeamTalk's db_proxy_server checks group membership in Redis only (hash
 * `group_member_{groupId}`: member id → join time), never in MySQL: a
 * --target run against it needs them beside IMGroupMember.
 */
export async function seedGroupMemberHashes(redisUrl: string, keyPrefix: string, pop: Population): Promise<void> {
  if (pop.groups === 0) return;
  const redis = new Redis(redisUrl, { keyPrefix, maxRetriesPerRequest: 2 });
  try {
    const now = String(Math.floor(Date.now() / 1000));
    const pipe = redis.pipeline();
    for (let g = 0; g < pop.groups; g++) {
      const fields = Array.from({ length: pop.groupSize }, (_, m) => [String(groupMember(pop, g, m)), now]).flat();
      pipe.hset(`group_member_${pop.groupIdBase + g}`, ...fields);
    }
    await pipe.exec();
  } finally {
    redis.disconnect();
  }
}

/** Refuses a database that already holds messages of the bench's users: verify would count them as not acked. */
export async function requireNoBenchMessages(mysqlUrl: string, shards: number, pop: Population): Promise<void> {
  const conn = await mysql.createConnection({ uri: mysqlUrl });
  try {
    for (let k = 0; k < shards; k++) {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT 1 FROM IMMessage_${k} WHERE fromId <= ? LIMIT 1`, [userCount(pop)]);
      const [grows] = await conn.query<mysql.RowDataPacket[]>(`SELECT 1 FROM IMGroupMessage_${k} WHERE groupId >= ? AND groupId < ? LIMIT 1`, [
        pop.groupIdBase,
        pop.groupIdBase + pop.groups,
      ]);
      if (rows.length > 0 || grows.length > 0) {
        throw new Error(`the target's database already holds messages of the bench's users (shard ${k}): give --target a fresh database, or verify would count them`);
      }
    }
  } finally {
    await conn.end();
  }
}
