/**
 * The shard map as data: two db-proxies on one database follow the stored
 * map without a restart. A change goes through a write freeze that every
 * live db-proxy acknowledges; under paced chat through both, shard 3 moves
 * to another server (copy, freeze, copy the rest, flip) and nothing acked
 * is lost, nothing is stored twice, ids keep increasing, and nothing is
 * written to the old server after the freeze. A freeze nobody flips
 * expires; a db-proxy that cannot read the map holds every write.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { shardMapChannel } from '../db-proxy/shard-follower.ts';
import { parseShardMap } from '../db-proxy/storage/shard-map.ts';
import * as store from '../db-proxy/storage/shard-map-store.ts';
import type { PduClient } from '../proto/client.ts';
import { migrate } from '../schema/migrate.ts';
import { sendMessage, startTestDbProxy, type DbProxyFixture } from './helpers/db-proxy.ts';
import { createTestStorage, testServerUrls, type TestStorage } from './helpers/storage.ts';

const SHARDS = 4;
const FOLLOW = { DB_PROXY_MAP_POLL_MS: '50', DB_PROXY_MAP_LEASE_MS: '600', SHARDS: String(SHARDS) };
const LIVE_MS = 1000;

let main: TestStorage;
let other: TestStorage;
let pub: Redis;
let a: DbProxyFixture;
let b: DbProxyFixture;
let ca: PduClient;
let cb: PduClient;
/** Conversations (user pairs) by the shard their relation id falls in. */
const byShard = new Map<number, [number, number][]>();

const send = sendMessage;

const publish = (): Promise<number> => pub.publish(shardMapChannel(main.keyPrefix), 'changed');

before(async () => {
  main = await createTestStorage({ shards: SHARDS });
  other = await createTestStorage({ shards: SHARDS, migrate: false });
  // Shard 3's tables on the other server, empty: where it will move.
  await migrate({ url: main.mysqlUrl, shards: SHARDS, shardMap: `3=${other.mysqlUrl}` });
  pub = new Redis(testServerUrls().redisUrl);
  a = await startTestDbProxy(FOLLOW, main);
  b = await startTestDbProxy(FOLLOW, main);
  ca = await a.connect();
  cb = await b.connect();
  for (let u = 1; u <= 12; u++) assert.equal(await send(ca, 100 + u, 200 + u, 'hello'), 1);
  const [rels] = await main.pool.query<RowDataPacket[]>('SELECT id, smallId, bigId FROM IMRelationShip ORDER BY id');
  for (const r of rels) {
    const k = Number(r.id) % SHARDS;
    byShard.set(k, [...(byShard.get(k) ?? []), [Number(r.smallId), Number(r.bigId)]]);
  }
  assert.ok([0, 1, 2, 3].every((k) => (byShard.get(k)?.length ?? 0) >= 2), 'every shard has conversations');
});
after(async () => {
  await a?.close();
  await b?.close();
  pub?.disconnect();
  await Promise.all([main?.cleanup(), other?.cleanup()]);
});

test('both db-proxies seeded and follow one stored map, each seen by its heartbeat', async () => {
  const map = await store.currentMap(main.pool, main.mysqlUrl);
  assert.deepEqual([map?.version, map?.shards, map?.shardUrls.every((u) => u === main.mysqlUrl)], [1, SHARDS, true]);
  const live = await store.liveInstances(main.pool, LIVE_MS);
  assert.equal(live.length, 2);
  assert.ok(live.every((i) => i.mapVersion === 1 && i.frozenId === 0));
});

test('writes to a frozen shard wait for the freeze to end; writes to the others do not', async () => {
  const [u0, p0] = byShard.get(0)![0]!;
  const [u1, p1] = byShard.get(1)![0]!;
  const f = await store.beginFreeze(main.pool, [1], 3000);
  await publish();
  assert.equal((await store.waitFrozen(main.pool, f.id, { liveMs: LIVE_MS, timeoutMs: 2000 })).length, 2);
  let frozenDone = 0;
  const held = send(cb, u1, p1, 'held').then((id) => ((frozenDone = Date.now()), id));
  const t0 = Date.now();
  assert.ok((await send(ca, u0, p0, 'not held')) > 0);
  assert.ok(Date.now() - t0 < 1000, 'a write to another shard is not held');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(frozenDone, 0, 'the write to the frozen shard waits');
  const released = Date.now();
  await store.releaseFreeze(main.pool, f.id);
  await publish();
  assert.ok((await held) > 0, 'stored once the freeze is over');
  assert.ok(frozenDone >= released);
  assert.equal((await store.freezeById(main.pool, f.id))?.state, 'released');
});

test('a db-proxy that starts during a freeze holds it before it takes a write, and a flip waits for it', async () => {
  const [u, p] = byShard.get(1)![1]!;
  const f = await store.beginFreeze(main.pool, [1], 4000);
  await publish();
  await store.waitFrozen(main.pool, f.id, { liveMs: LIVE_MS, timeoutMs: 2000 });
  // A slow poll: only its start can have frozen it in time.
  const c = await startTestDbProxy({ ...FOLLOW, DB_PROXY_MAP_POLL_MS: '2000', DB_PROXY_MAP_LEASE_MS: '6000' }, main);
  try {
    const live = await store.liveInstances(main.pool, LIVE_MS);
    assert.equal(live.length, 3);
    assert.ok(live.every((i) => i.frozenId === f.id), 'the newcomer holds the freeze from its start');
    const cc = await c.connect();
    let done = 0;
    const held = send(cc, u, p, 'through the newcomer').then((id) => ((done = Date.now()), id));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(done, 0, 'held by the newcomer too');
    await store.releaseFreeze(main.pool, f.id);
    await publish();
    assert.ok((await held) > 0);
  } finally {
    await c.close();
  }
});

test('a freeze nobody flips expires: writes go on with the old map, and a late flip is refused', async () => {
  const [u, p] = byShard.get(2)![0]!;
  const f = await store.beginFreeze(main.pool, [2], 400);
  await publish();
  await store.waitFrozen(main.pool, f.id, { liveMs: LIVE_MS, timeoutMs: 2000 });
  const t0 = Date.now();
  assert.ok((await send(ca, u, p, 'after expiry')) > 0);
  assert.ok(Date.now() - t0 >= 200, 'held until the freeze expired');
  assert.equal((await store.freezeById(main.pool, f.id))?.state, 'expired');
  const moved = parseShardMap(main.mysqlUrl, SHARDS, `2=${other.mysqlUrl}`);
  await assert.rejects(store.flip(main.pool, { freezeId: f.id, baseVersion: 1, next: moved, note: 'too late', marginMs: 100, liveMs: LIVE_MS }), /expired/);
  assert.equal(await store.latestVersion(main.pool), 1);
});

test('under paced chat through both db-proxies, shard 3 moves to another server: nothing lost, nothing doubled, ids increasing', async (t) => {
  const acked: { conv: string; msgId: number; text: string }[] = [];
  const refused: string[] = [];
  let stop = false;
  const convs = [...byShard.values()].flat();
  const senders = convs.map(async ([u, p], i) => {
    for (let n = 0; !stop; n++) {
      const text = `c${i} n${n}`;
      const id = await send(n % 2 === 0 ? ca : cb, u, p, text).catch(() => 0);
      if (id > 0) acked.push({ conv: `${u}:${p}`, msgId: id, text });
      else refused.push(text);
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  await new Promise((r) => setTimeout(r, 400));

  // Copy while chat goes on, then freeze, copy the rest, flip.
  const copy = async (): Promise<void> => {
    for (const t of ['IMMessage_3', 'IMGroupMessage_3']) {
      await main.pool.query(`INSERT IGNORE INTO \`${other.database}\`.${t} SELECT * FROM \`${main.database}\`.${t}`);
    }
  };
  await copy();
  const f = await store.beginFreeze(main.pool, [3], 2000);
  const frozeAt = Date.now();
  await publish();
  await store.waitFrozen(main.pool, f.id, { liveMs: LIVE_MS, timeoutMs: 1500, pollMs: 5 });
  await copy();
  const next = parseShardMap(main.mysqlUrl, SHARDS, `3=${other.mysqlUrl}`);
  const flipped = await store.flip(main.pool, { freezeId: f.id, baseVersion: 1, next, note: 'move shard 3', marginMs: 200, liveMs: LIVE_MS });
  await publish();
  const freezeMs = Date.now() - frozeAt;
  const [[source]] = await main.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM IMMessage_3');
  await new Promise((r) => setTimeout(r, 600));
  stop = true;
  await Promise.all(senders);

  t.diagnostic(`freeze ${freezeMs} ms; ${acked.length} acked, ${refused.length} refused`);
  assert.equal(flipped.version, 2);
  assert.ok(freezeMs < 1000, `freeze took ${freezeMs} ms`);
  const live = await store.liveInstances(main.pool, LIVE_MS);
  assert.ok(live.length === 2 && live.every((i) => i.mapVersion === 2 && i.frozenId === 0), JSON.stringify(live));
  const [[after]] = await main.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM IMMessage_3');
  assert.equal(Number(after!.n), Number(source!.n), 'nothing written to the old server of shard 3 after the freeze');

  const [rels] = await main.pool.query<RowDataPacket[]>('SELECT id, smallId, bigId FROM IMRelationShip');
  const relOf = new Map(rels.map((r) => [`${r.smallId}:${r.bigId}`, Number(r.id)]));
  const stored = new Map<string, { msgId: number; content: string }[]>();
  for (let k = 0; k < SHARDS; k++) {
    const holder = k === 3 ? other : main;
    const [rows] = await holder.pool.query<RowDataPacket[]>(`SELECT relateId, msgId, content FROM IMMessage_${k}`);
    for (const r of rows) {
      const key = String(r.relateId);
      stored.set(key, [...(stored.get(key) ?? []), { msgId: Number(r.msgId), content: String(r.content) }]);
    }
  }
  assert.ok(acked.length > 100, `${acked.length} acked`);
  const seenConvs = new Map<string, number>();
  for (const m of acked) {
    const rel = String(relOf.get(m.conv));
    const rows = stored.get(rel)?.filter((r) => r.msgId === m.msgId) ?? [];
    assert.equal(rows.length, 1, `acked ${m.conv} #${m.msgId} stored exactly once where the map says`);
    assert.ok(rows[0]!.content.length > 0);
    assert.ok(m.msgId > (seenConvs.get(m.conv) ?? 0), `ids of ${m.conv} increase in ack order`);
    seenConvs.set(m.conv, m.msgId);
  }
  const total = [...stored.values()].reduce((n, l) => n + l.length, 0);
  // Plus the twelve greetings and the four single sends of the tests before: nothing refused was stored.
  assert.equal(total, acked.length + convs.length + 4, `every stored row was acked (${refused.length} refused)`);
});

test('a db-proxy that cannot read the map holds every write until it can again', async () => {
  const [u, p] = byShard.get(0)![1]!;
  await main.pool.query('RENAME TABLE shard_map TO shard_map_away');
  let done = 0;
  try {
    await new Promise((r) => setTimeout(r, 900));
    const pending = send(ca, u, p, 'while blind').then((id) => ((done = Date.now()), id));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(done, 0, 'held');
    await main.pool.query('RENAME TABLE shard_map_away TO shard_map');
    assert.ok((await pending) > 0);
  } finally {
    await main.pool.query('RENAME TABLE shard_map_away TO shard_map').catch(() => undefined);
  }
});
