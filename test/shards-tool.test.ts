/**
 * `npm run shards` against real servers while chat goes on through two
 * db-proxies: a dry run changes nothing; shard 3 moves to a private MariaDB
 * instance of its own; a split 4 → 8 is killed with SIGKILL mid-copy and
 * resumed; each ends with verify clean; a dead db-proxy's heartbeat holds
 * a move up only for its lease; cleanup removes what the last job left at
 * its sources. Through it all nothing acked is
 * lost, nothing is stored twice, nothing refused is stored, and ids keep
 * increasing per conversation.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import * as store from '../db-proxy/storage/shard-map-store.ts';
import type { PduClient } from '../proto/client.ts';
import { migrate } from '../schema/migrate.ts';
import { openEnv, runShards } from '../scripts/shards/cli.ts';
import { removeMoved } from '../scripts/shards/cleanup.ts';
import { lastJob, openJob } from '../scripts/shards/jobs.ts';
import { Progress } from '../scripts/shards/progress.ts';
import { startStack, type Stack } from '../scripts/stack.ts';
import { sendMessage, startTestDbProxy, type DbProxyFixture } from './helpers/db-proxy.ts';
import { createTestStorage, testServerUrls, withDatabase, type TestStorage } from './helpers/storage.ts';

// A short transaction bound keeps the tool's settle time (at least the db-proxies' bound) short.
const FOLLOW = { DB_PROXY_MAP_POLL_MS: '100', DB_PROXY_MAP_LEASE_MS: '1000', SHARDS: '4', DB_PROXY_FAIL_FAST_MS: '1500' };

let main: TestStorage;
let target: Stack;
let targetUrl: string;
let a: DbProxyFixture;
let b: DbProxyFixture;
let ca: PduClient;
let cb: PduClient;
let env: Awaited<ReturnType<typeof openEnv>>;
const convs: [number, number][] = [];
const acked: { conv: string; msgId: number }[] = [];
let refused = 0;
let stop = false;
let load: Promise<void>[] = [];

const send = sendMessage;

const shards = (args: string[]): Promise<number> => runShards([...args, '--settle-ms', '300', '--live-ms', '2500'], env);

before(async () => {
  main = await createTestStorage({ shards: 4 });
  target = await startStack({ dir: mkdtempSync(join(tmpdir(), 'tt-shards-target-')), ephemeral: true });
  targetUrl = withDatabase(target.mysqlUrl, 'tt_shard_target');
  a = await startTestDbProxy(FOLLOW, main);
  b = await startTestDbProxy(FOLLOW, main);
  ca = await a.connect();
  cb = await b.connect();
  for (let u = 1; u <= 16; u++) {
    convs.push([300 + u, 400 + u]);
    acked.push({ conv: `${300 + u}:${400 + u}`, msgId: await send(ca, 300 + u, 400 + u, 'hello') });
  }
  env = await openEnv({ MYSQL_URL: main.mysqlUrl, REDIS_URL: testServerUrls().redisUrl, REDIS_KEY_PREFIX: main.keyPrefix });
  env.progress = new Progress(process.stderr, true);
  env.log = () => undefined;
  // Paced chat through both db-proxies for the whole file.
  load = convs.map(async ([u, p], i) => {
    for (let n = 0; !stop; n++) {
      const id = await send(n % 2 === 0 ? ca : cb, u, p, `c${i} n${n}`).catch(() => 0);
      if (id > 0) acked.push({ conv: `${u}:${p}`, msgId: id });
      else refused++;
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});
after(async () => {
  stop = true;
  await Promise.all(load);
  await env?.close();
  await a?.close();
  await b?.close();
  await target?.stop();
  await main?.cleanup();
});

test('a dry run says what it would copy and changes nothing', async () => {
  assert.equal(await shards(['move', '3', targetUrl, '--dry-run']), 0);
  assert.equal(await shards(['plan', 'split']), 0);
  assert.equal(await openJob(main.pool), null);
  const conn = await mysql.createConnection({ uri: target.mysqlUrl });
  try {
    const [dbs] = await conn.query<RowDataPacket[]>("SHOW DATABASES LIKE 'tt_shard_target'");
    assert.equal(dbs.length, 0, 'no database made on the target');
  } finally {
    await conn.end();
  }
  assert.equal(await store.latestVersion(main.pool), 1);
  // A URL the map's text form cannot carry is refused before anything happens.
  await assert.rejects(shards(['move', '3', `${targetUrl};x=1`, '--dry-run']), /percent-encode/);
});

test('shard 3 moves to another MariaDB instance under chat: freeze under a second, verify clean', async (t) => {
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await shards(['move', '3', targetUrl]), 0);
  const job = await lastJob(main.pool);
  assert.equal(job?.state, 'done', job?.message);
  t.diagnostic(job!.message);
  const frozen = Number(/writes frozen (\d+) ms/.exec(job!.message)?.[1]);
  assert.ok(frozen < 1000, `writes frozen ${frozen} ms`);
  const map = await store.currentMap(main.pool, main.mysqlUrl);
  assert.deepEqual([map?.version, map?.shardUrls[3]], [2, targetUrl]);
  const live = await store.liveInstances(main.pool, 2000);
  t.diagnostic(`db-proxies on versions ${live.map((i) => i.mapVersion).join(',')}`);
  assert.equal(await shards(['verify']), 0);
});

test('a split 4 → 8 killed mid-copy resumes from its checkpoints and finishes clean', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/shards.ts', 'split', '--chunk', '20', '--max-rows-per-sec', '200', '--settle-ms', '300'], {
    env: { ...process.env, MYSQL_URL: main.mysqlUrl, REDIS_URL: testServerUrls().redisUrl, REDIS_KEY_PREFIX: main.keyPrefix },
    stdio: 'ignore',
  });
  // Until its first checkpoint is saved, then kill -9.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const job = await openJob(main.pool);
    if (job && Object.values(job.checkpoints).some((v) => v > 0)) break;
    assert.ok(Date.now() < deadline, 'the split saved no checkpoint in time');
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const killed = await openJob(main.pool);
  assert.equal(killed?.state, 'copying');
  assert.equal(await store.latestVersion(main.pool), 2, 'the map did not change');

  assert.equal(await shards(['resume']), 0);
  const done = await lastJob(main.pool);
  assert.equal(done?.id, killed?.id);
  assert.equal(done?.state, 'done', done?.message);
  t.diagnostic(done!.message);
  assert.ok(Number(/writes frozen (\d+) ms/.exec(done!.message)?.[1]) < 1000, done!.message);
  const map = await store.currentMap(main.pool, main.mysqlUrl);
  assert.deepEqual([map?.version, map?.shards, map?.shardUrls[7]], [3, 8, targetUrl]);
  assert.equal(await shards(['verify']), 0);
  const live = await store.liveInstances(main.pool, 2000);
  assert.ok(live.length === 2 && live.every((i) => i.mapVersion === 3), JSON.stringify(live));
});

test('a db-proxy that died without a goodbye holds a move up only until its lease ran out', async () => {
  // Its heartbeat row, as kill -9 leaves it: live for its lease (1 s) and the margin, holding nothing.
  await main.pool.query("INSERT INTO db_proxy_instances (id, map_version, frozen_id, lease_ms, txn_ms, seen_at) VALUES ('killed:1:x', 3, 0, 1000, 1500, NOW(3))");
  const t0 = Date.now();
  assert.equal(await shards(['move', '1', targetUrl]), 0);
  const job = await lastJob(main.pool);
  assert.equal(job?.state, 'done', job?.message);
  assert.ok(Date.now() - t0 >= 1000, 'it waited for the dead one to age out');
  const map = await store.currentMap(main.pool, main.mysqlUrl);
  assert.deepEqual([map?.version, map?.shardUrls[1]], [4, targetUrl]);
});

test('cleanup after the last move drops the old tables, only once nothing reads them; a dry run removes nothing', async () => {
  const has = async (table: string): Promise<boolean> =>
    ((await main.pool.query('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [table]))[0] as unknown[]).length > 0;
  assert.equal(await shards(['cleanup', '--dry-run']), 0);
  assert.ok(await has('IMMessage_1'), 'a dry run removes nothing');
  assert.equal(await shards(['cleanup']), 0);
  assert.ok(!(await has('IMMessage_1')) && !(await has('IMGroupMessage_1')), 'the moved shard left MYSQL_URL');
  assert.ok(await has('IMMessage_0'), 'shards still held there stay');
  assert.match((await lastJob(main.pool))!.message, /cleaned up/);
  assert.equal(await shards(['cleanup']), 0, 'a second cleanup has nothing to do');
});

test('through both: every acked message stored once where the map says, nothing refused stored, ids increasing', async () => {
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await Promise.all(load);
  const map = (await store.currentMap(main.pool, main.mysqlUrl))!;
  const [rels] = await main.pool.query<RowDataPacket[]>('SELECT id, smallId, bigId FROM IMRelationShip');
  const relOf = new Map(rels.map((r) => [`${r.smallId}:${r.bigId}`, Number(r.id)]));
  const pools = new Map<string, mysql.Pool>();
  const poolOf = (url: string): mysql.Pool => pools.get(url) ?? (pools.set(url, mysql.createPool({ uri: url, connectionLimit: 2 })), pools.get(url)!);
  try {
    const stored = new Map<number, number[]>();
    for (const conv of new Set(acked.map((m) => m.conv))) {
      const rel = relOf.get(conv)!;
      const k = rel % map.shards;
      const [rows] = await poolOf(map.shardUrls[k]!).query<RowDataPacket[]>(`SELECT msgId FROM IMMessage_${k} WHERE relateId = ? ORDER BY msgId`, [rel]);
      stored.set(rel, rows.map((r) => Number(r.msgId)));
    }
    const last = new Map<string, number>();
    for (const m of acked) {
      const ids = stored.get(relOf.get(m.conv)!)!;
      assert.equal(ids.filter((id) => id === m.msgId).length, 1, `${m.conv} #${m.msgId} stored once where the map says`);
      assert.ok(m.msgId > (last.get(m.conv) ?? 0), `ids of ${m.conv} increase`);
      last.set(m.conv, m.msgId);
    }
    const total = [...stored.values()].reduce((n, ids) => n + ids.length, 0);
    assert.equal(total, acked.length, `nothing stored that was not acked (${refused} refused)`);
  } finally {
    await Promise.all([...pools.values()].map((p) => p.end()));
  }
  // A db-proxy (re)started now needs SHARDS=8: the layout and the map say so; migrate follows the stored map too.
  const fx = await startTestDbProxy({ ...FOLLOW, SHARDS: '8' }, main);
  await fx.close();
  await assert.rejects(migrate({ url: main.mysqlUrl, shards: 4 }), /SHARDS=4, but the shard map in force \(version 4\) has 8 shards/);
  const again = await migrate({ url: main.mysqlUrl, shards: 8 });
  assert.deepEqual([again.shardTablesCreated, again.shardHosts.map((h) => [h.shards, h.tablesCreated])], [[], [[[1, 3, 7], []]]]);
});

test("a split's cleanup deletes only the rows that moved, in chunks", async () => {
  await main.pool.query('CREATE TABLE split_probe LIKE IMMessage_0');
  try {
    const rows = Array.from({ length: 50 }, (_, i) => [i + 1, i + 1, 1, 2, 1, 'x', 1, 0, 0, 0]);
    await main.pool.query('INSERT INTO split_probe (id, relateId, fromId, toId, msgId, content, type, status, updated, created) VALUES ?', [rows]);
    const task = { key: 'probe', prefix: 'IMMessage' as const, src: { url: main.mysqlUrl, table: 'split_probe' }, dst: { url: main.mysqlUrl, table: 'unused' }, filter: { column: 'relateId', mod: 8, rem: 5 } };
    const opts = { dryRun: false, chunk: 2, maxRowsPerSec: 0, verifyRange: 1000 };
    assert.equal(await removeMoved(env, task, { ...opts, dryRun: true }), 6);
    assert.equal(await removeMoved(env, task, opts), 6);
    const [left] = await main.pool.query<RowDataPacket[]>('SELECT relateId FROM split_probe');
    assert.equal(left.length, 44);
    assert.ok(left.every((r) => Number(r.relateId) % 8 !== 5));
  } finally {
    await main.pool.query('DROP TABLE split_probe');
  }
});
