/**
 * Seeds a fresh benchmark database: users (TeamTalk's password scheme,
 * md5hex(md5hex(password) + salt)), the relation of every pair, groups with
 * members, and — for the list workload — some history per pair, written
 * through db-proxy's own message handler so it is exactly what db-proxy
 * would have stored.
 */
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

/** Users 1..2·pairs, relations of the pairs (and of `extraPairs`, [from, to]), groups and members. */
export async function seedPopulation(mysqlUrl: string, pop: Population, extraPairs: [number, number][]): Promise<void> {
  const conn = await mysql.createConnection({ uri: mysqlUrl });
  const now = Math.floor(Date.now() / 1000);
  try {
    const users = Array.from({ length: userCount(pop) }, (_, i) => {
      const uid = i + 1;
      const salt = (1000 + (uid % 9000)).toString();
      return [uid, userName(uid), `bench ${uid}`, md5hex(md5hex(userPassword(uid)) + salt), salt, 1, 0, now, now];
    });
    await insertChunks(conn, 'INSERT INTO IMUser (id, name, nick, password, salt, departId, status, created, updated)', users);
    const pairs: [number, number][] = Array.from({ length: pop.pairs }, (_, p) => [pairFrom(p), pairTo(p)]);
    const rel = [...pairs, ...extraPairs].map(([a, b]) => [Math.min(a, b), Math.max(a, b), 0, now, now]);
    await insertChunks(conn, 'INSERT INTO IMRelationShip (smallId, bigId, status, created, updated)', rel);
    if (pop.groups > 0) {
      const groups = Array.from({ length: pop.groups }, (_, g) => [pop.groupIdBase + g, `bench group ${g}`, groupMember(pop, g, 0), 1, pop.groupSize, GROUP_LIVE, now, now]);
      await insertChunks(conn, 'INSERT INTO IMGroup (id, name, creator, type, userCnt, status, created, updated)', groups);
      const members = groups.flatMap((_, g) =>
        Array.from({ length: pop.groupSize }, (__, m) => [pop.groupIdBase + g, groupMember(pop, g, m), MEMBER_ACTIVE, now, now]),
      );
      await insertChunks(conn, 'INSERT INTO IMGroupMember (groupId, userId, status, created, updated)', members);
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
