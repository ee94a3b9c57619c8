/**
 * Read replicas with a real MariaDB replica on loopback (two private
 * instances, binlog replication): history and user lookups read the
 * replica while its lag is within DB_PROXY_REPLICA_MAX_LAG_MS; writes and
 * msg-id seeds never do; a replica that stops applying falls behind and
 * the reads go back to the primary until it catches up.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { PduClient } from '../proto/client.ts';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { migrate } from '../schema/migrate.ts';
import { openEnv, runShards } from '../scripts/shards/cli.ts';
import { Copier, freshState, Pools } from '../scripts/shards/copy.ts';
import type { CopyTask } from '../scripts/shards/tasks.ts';
import { startStack, type Stack } from '../scripts/stack.ts';
import { startTestDbProxy, type DbProxyFixture } from './helpers/db-proxy.ts';
import { testServerUrls, withDatabase } from './helpers/storage.ts';

const DB = 'tt_replica_test';
const PREFIX = `tt_replica_${process.pid}:`;
let primary: Stack;
let replica: Stack;
let onPrimary: Pool;
let onReplica: Pool;
let redis: Redis;
let fx: DbProxyFixture;
let c: PduClient;
let relateId = 0;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not in ${ms} ms`);
    await sleep(25);
  }
}

async function send(text: string): Promise<number> {
  const r = await c.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: Buffer.from(text) }, { expect: Cid.CID_MSG_DATA });
  return (r.message as IM.Message.IMMsgData).msgId;
}

async function history(): Promise<string[]> {
  const r = await c.request(Cid.CID_MSG_LIST_REQUEST, { userId: 1, sessionType: 1, sessionId: 2, msgIdBegin: 0, msgCnt: 50 });
  return (r.message as IM.Message.IMGetMsgListRsp).msgList.map((m) => Buffer.from(m.msgData).toString());
}

const replicated = async (): Promise<boolean> => {
  const [[p]] = await onPrimary.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM IMMessage_${relateId % 8}`);
  const [[r]] = await onReplica.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM IMMessage_${relateId % 8} WHERE id < 1000000`);
  return Number(p!.n) === Number(r!.n);
};

before(async () => {
  const dir = (name: string): string => mkdtempSync(join(tmpdir(), `tt-${name}-`));
  // One after the other: two mariadb-install-db runs at once fail now and then.
  primary = await startStack({ dir: dir('primary'), ephemeral: true, mysqlFlags: ['--log-bin=mysql-bin', '--server-id=1', '--binlog-format=ROW'] });
  replica = await startStack({ dir: dir('replica'), ephemeral: true, mysqlFlags: ['--server-id=2'] });
  const admin = await mysql.createConnection({ uri: primary.mysqlUrl });
  const [[pos]] = await admin.query<RowDataPacket[]>('SHOW MASTER STATUS');
  await admin.end();
  const port = new URL(primary.mysqlUrl).port;
  const r = await mysql.createConnection({ uri: replica.mysqlUrl });
  await r.query(`CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${port}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_LOG_FILE=?, MASTER_LOG_POS=?`, [pos!.File, pos!.Position]);
  await r.query('START SLAVE');
  await r.end();
  await migrate({ url: withDatabase(primary.mysqlUrl, DB), shards: 8 });
  onPrimary = mysql.createPool({ uri: withDatabase(primary.mysqlUrl, DB), connectionLimit: 2 });
  await until('schema on the replica', async () => {
    const probe = mysql.createPool({ uri: withDatabase(replica.mysqlUrl, DB), connectionLimit: 1 });
    try {
      const [rows] = await probe.query<RowDataPacket[]>("SHOW TABLES LIKE 'replica_heartbeat'");
      return rows.length === 1;
    } catch {
      return false;
    } finally {
      await probe.end();
    }
  });
  onReplica = mysql.createPool({ uri: withDatabase(replica.mysqlUrl, DB), connectionLimit: 2 });
  redis = new Redis(testServerUrls().redisUrl, { keyPrefix: PREFIX });
  await onPrimary.query("INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId, status, created, updated) VALUES (1, 1, 'ann', 'a', 'Ann', '', '', '', '', '', 1, 0, 0, 0), (2, 1, 'bob', 'b', 'Bob', '', '', '', '', '', 1, 0, 0, 0)");
  fx = await startTestDbProxy({
    MYSQL_URL: withDatabase(primary.mysqlUrl, DB),
    MYSQL_REPLICA_URL: withDatabase(replica.mysqlUrl, DB),
    REDIS_KEY_PREFIX: PREFIX,
    SHARDS: '8',
    DB_PROXY_REPLICA_CHECK_MS: '50',
    DB_PROXY_REPLICA_MAX_LAG_MS: '400',
  }, { mysqlUrl: withDatabase(primary.mysqlUrl, DB), redisUrl: testServerUrls().redisUrl, keyPrefix: PREFIX, shards: 8 } as never);
  c = await fx.connect();
  for (const t of ['one', 'two', 'three']) assert.ok((await send(t)) > 0);
  const [[rel]] = await onPrimary.query<RowDataPacket[]>('SELECT id FROM IMRelationShip WHERE smallId = 1 AND bigId = 2');
  relateId = Number(rel!.id);
  await until('messages on the replica', replicated);
});
after(async () => {
  await fx?.close();
  redis?.disconnect();
  await onPrimary?.end();
  await onReplica?.end();
  await replica?.stop();
  await primary?.stop();
});

test('history and user lookups read the replica while it is fresh', async () => {
  // Rows only the replica has (an id replication will never reach) show where a read went.
  await onReplica.query(`INSERT INTO IMMessage_${relateId % 8} (id, relateId, fromId, toId, msgId, content, type, status, updated, created) VALUES (1000000, ?, 1, 2, 900, 'replica only', 1, 0, 0, 1700000000)`, [relateId]);
  await onReplica.query("UPDATE IMUser SET nick = 'Ann on the replica' WHERE id = 1");
  await until('history from the replica', async () => (await history()).includes('replica only'), 3000);
  const info = await c.request(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, { userId: 2, userIdList: [1] });
  assert.equal((info.message as IM.Buddy.IMUsersInfoRsp).userInfoList[0]?.userNickName, 'Ann on the replica');
});

test('writes and msg-id seeds never go to the replica', async () => {
  await redis.del(`msg_id_${relateId}`);
  // The replica's extra row has msg id 900: a seed read there would hand out 901.
  const id = await send('four');
  assert.equal(id, 4);
  const [rows] = await onPrimary.query<RowDataPacket[]>(`SELECT content FROM IMMessage_${relateId % 8} WHERE relateId = ? AND msgId = 4`, [relateId]);
  assert.equal(rows.length, 1);
});

test('a replica that stops applying falls behind: reads go to the primary, and back once it caught up', async () => {
  await onReplica.query('STOP SLAVE SQL_THREAD');
  try {
    await until('history from the primary', async () => !(await history()).includes('replica only'), 3000);
    assert.ok((await send('while the replica stands still')) > 0);
    assert.ok((await history()).includes('while the replica stands still'), 'the newest message is read from the primary');
  } finally {
    await onReplica.query('START SLAVE SQL_THREAD');
  }
  await until('replica caught up', replicated);
  await until('history from the replica again', async () => (await history()).includes('replica only'), 3000);
});

test('npm run shards -- status shows each replica and how far behind it is', async () => {
  const env = await openEnv({ MYSQL_URL: withDatabase(primary.mysqlUrl, DB), MYSQL_REPLICA_URL: withDatabase(replica.mysqlUrl, DB) });
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    assert.equal(await runShards(['status'], env), 0);
  } finally {
    console.log = log;
    await env.close();
  }
  assert.ok(lines.some((l) => /^replica of .*: .*, \d+ ms behind/.test(l)), lines.join('\n'));
});

test("the shard tool's copy waits while the target's replica is behind, and goes on once it caught up", async () => {
  const k = relateId % 8;
  await onPrimary.query('CREATE TABLE copy_probe LIKE IMMessage_0');
  const pools = new Pools();
  try {
    const target = withDatabase(primary.mysqlUrl, DB);
    const copier = new Copier(pools, { chunk: 1, maxRowsPerSec: 0, maxLagMs: 300, settleMs: 0, replicas: [[target, withDatabase(replica.mysqlUrl, DB)]] }, null);
    const task: CopyTask = { key: 'probe', prefix: 'IMMessage', src: { url: target, table: `IMMessage_${k}` }, dst: { url: target, table: 'copy_probe' }, filter: null };
    await onReplica.query('STOP SLAVE SQL_THREAD');
    await sleep(700); // the heartbeats it no longer applies put it past the 300 ms bound
    let copied = false;
    const pass = copier.pass(task, freshState()).then(() => (copied = true));
    await sleep(1500);
    assert.equal(copied, false, 'held while the replica is behind');
    await onReplica.query('START SLAVE SQL_THREAD');
    await pass;
    const [[n]] = await onPrimary.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM copy_probe');
    const [[m]] = await onPrimary.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM IMMessage_${k}`);
    assert.equal(Number(n!.n), Number(m!.n));
  } finally {
    await onReplica.query('START SLAVE SQL_THREAD').catch(() => undefined);
    await pools.close();
    await onPrimary.query('DROP TABLE copy_probe');
  }
});
