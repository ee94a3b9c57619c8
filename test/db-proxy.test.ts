import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ErrorCode, isImError } from '../common/errors.ts';
import type { PduClient } from '../proto/client.ts';
import { Cid } from '../proto/commands.ts';
import { HEADER_LENGTH, encodePdu } from '../proto/header.ts';
import { startTestDbProxy } from './helpers/db-proxy.ts';
import { createTestStorage } from './helpers/storage.ts';
import { TcpRelay } from './helpers/tcp-relay.ts';

interface MsgAnswer {
  msgId: number;
  fromUserId: number;
  toSessionId: number;
  attachData?: Buffer;
}

function send(c: PduClient, from: number, to: number, text: string, extra: Record<string, unknown> = {}): Promise<MsgAnswer> {
  return c
    .request(
      Cid.CID_MSG_DATA,
      { fromUserId: from, toSessionId: to, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: Buffer.from(text), ...extra },
      { expect: Cid.CID_MSG_DATA },
    )
    .then((r) => r.message as MsgAnswer);
}

test('db-proxy over TCP with a piscina worker', async (t) => {
  const fx = await startTestDbProxy({ DB_PROXY_HEARTBEAT_MS: '300' });
  t.after(() => fx.close());
  const { pool, redis } = fx.storage;
  const c = await fx.connect();

  await t.test('attach_data and seq come back; ids follow send order on one link', async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => send(c, 10, 11, `m${i}`, { attachData: Buffer.from([0, 0, 0, i]) })),
    );
    answers.forEach((a, i) => {
      assert.equal(a.msgId, i + 1, 'msg ids in send order');
      assert.deepEqual([...a.attachData!], [0, 0, 0, i]);
    });
    const [rows] = await pool.query('SELECT COUNT(*) AS n FROM IMRelationShip WHERE smallId = 10 AND bigId = 11');
    assert.equal((rows as { n: number }[])[0]!.n, 1);
    assert.equal(await redis.hget('unread_11', '10'), '60', 'unread equals stored messages');
  });

  await t.test('answers come back in arrival order per conversation', async () => {
    const order: number[] = [];
    await Promise.all(Array.from({ length: 40 }, (_, i) => send(c, 12, 13, `x${i}`).then((a) => order.push(a.msgId))));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
  });

  await t.test('msg ids are never reused after Redis loses the counter', async () => {
    const before = await send(c, 20, 21, 'one');
    await send(c, 20, 21, 'two');
    const [rel] = await pool.query('SELECT id FROM IMRelationShip WHERE smallId = 20 AND bigId = 21');
    await redis.del(`msg_id_${(rel as { id: number }[])[0]!.id}`);
    const after = await send(c, 20, 21, 'three');
    assert.equal(after.msgId, before.msgId + 2);
  });

  await t.test('invalid messages and non-members are refused with msg_id 0', async () => {
    assert.equal((await send(c, 30, 30, 'to myself')).msgId, 0);
    assert.equal((await send(c, 30, 31, '')).msgId, 0);
    assert.equal((await send(c, 30, 999, 'group I am not in', { msgType: 0x11 })).msgId, 0);
  });

  await t.test('a failed insert is answered as a failure, not with a msg id', async () => {
    const first = await send(c, 40, 41, 'stored');
    const [rel] = await pool.query('SELECT id FROM IMRelationShip WHERE smallId = 40 AND bigId = 41');
    const table = `IMMessage_${(rel as { id: number }[])[0]!.id % fx.storage.shards}`;
    await pool.query(`RENAME TABLE ${table} TO ${table}_away`);
    try {
      assert.equal((await send(c, 40, 41, 'lost')).msgId, 0);
    } finally {
      await pool.query(`RENAME TABLE ${table}_away TO ${table}`);
    }
    const next = await send(c, 40, 41, 'stored again');
    assert.ok(next.msgId > first.msgId);
    const [rows] = await pool.query(`SELECT content FROM ${table} WHERE fromId = 40 ORDER BY msgId`);
    assert.deepEqual((rows as { content: string }[]).map((r) => String(r.content)), ['stored', 'stored again']);
    assert.equal(await redis.hget('unread_41', '40'), '2');
  });

  await t.test('concurrent first messages make one relation and one pair of sessions', async () => {
    const c2 = await fx.connect();
    await Promise.all([send(c, 50, 51, 'hi'), send(c2, 51, 50, 'hello'), send(c, 50, 51, 'again'), send(c2, 51, 50, 'yes')]);
    const [rel] = await pool.query('SELECT COUNT(*) AS n FROM IMRelationShip WHERE smallId = 50 AND bigId = 51');
    assert.equal((rel as { n: number }[])[0]!.n, 1);
    const [ses] = await pool.query('SELECT userId, peerId FROM IMRecentSession WHERE userId IN (50, 51) ORDER BY userId');
    assert.deepEqual(ses, [{ userId: 50, peerId: 51 }, { userId: 51, peerId: 50 }]);
  });

  await t.test('a user name that looks like SQL is stored as data', async () => {
    const text = "x' OR '1'='1'; DROP TABLE IMUser; --";
    const a = await send(c, 60, 61, text);
    assert.ok(a.msgId > 0);
    const [rows] = await pool.query('SELECT COUNT(*) AS n FROM IMUser');
    assert.ok(Array.isArray(rows));
  });

  await t.test('/healthz and /metrics report the links and counters', async () => {
    const base = `http://127.0.0.1:${fx.proxy.httpPort}`;
    const health = (await (await fetch(`${base}/healthz`)).json()) as { ok: boolean; links: number };
    assert.equal(health.ok, true);
    assert.ok(health.links >= 1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const replies = /^dbproxy_replies_total (\d+)$/m.exec(metrics);
    assert.ok(replies && Number(replies[1]) > 0, metrics);
    assert.match(metrics, /^# TYPE dbproxy_links gauge$/m);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });

  await t.test('an answer whose link is gone is dropped and counted', async () => {
    const first = await send(c, 95, 96, 'make the relation');
    assert.ok(first.msgId > 0);
    const [rel] = await pool.query('SELECT id FROM IMRelationShip WHERE smallId = 95 AND bigId = 96');
    const table = `IMMessage_${(rel as { id: number }[])[0]!.id % fx.storage.shards}`;
    const locker = await pool.getConnection();
    const dropped = fx.proxy.server.stats.repliesDropped;
    try {
      await locker.query(`LOCK TABLES ${table} WRITE`);
      const gone = await fx.connect();
      const before = fx.proxy.server.stats.requests;
      gone.send(Cid.CID_MSG_DATA, { fromUserId: 95, toSessionId: 96, msgId: 0, createTime: 1, msgType: 1, msgData: Buffer.from('late') }, 1);
      for (let i = 0; i < 100 && fx.proxy.server.stats.requests === before; i++) await new Promise((r) => setTimeout(r, 10));
      gone.destroy();
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      await locker.query('UNLOCK TABLES');
      locker.release();
    }
    for (let i = 0; i < 200 && fx.proxy.server.stats.repliesDropped === dropped; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fx.proxy.server.stats.repliesDropped, dropped + 1);
  });

  await t.test('the proxy heartbeats an idle link', async () => {
    const idle = await fx.connect();
    const [pushed] = (await once(idle, 'push')) as [{ commandId: number }];
    assert.equal(pushed.commandId, Cid.CID_OTHER_HEARTBEAT);
  });

  await t.test('unknown commands and garbage bodies do not break the link', async () => {
    c.sendRaw(encodePdu({ commandId: 0x7777 }, Buffer.from([1, 2, 3])));
    const garbage = c.request(Cid.CID_MSG_DATA, {}, { expect: Cid.CID_MSG_DATA }).catch((e: unknown) => e);
    // an empty IMMsgData misses required fields: refused explicitly
    const answer = await garbage;
    assert.ok(!(answer instanceof Error) || isImError(answer), String(answer));
    assert.ok((await send(c, 70, 71, 'still works')).msgId > 0);
  });

  await t.test('an oversized frame closes only that link', async () => {
    const bad = await fx.connect();
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt32BE(0x7fffffff, 0);
    bad.sendRaw(header);
    const [err] = (await once(bad, 'close')) as [Error];
    assert.ok(isImError(err, ErrorCode.CONNECTION_CLOSED));
    assert.ok((await send(c, 72, 73, 'others unaffected')).msgId > 0);
  });
});

test('graceful close answers everything it has read and tells links to stop', async (t) => {
  const fx = await startTestDbProxy();
  t.after(() => fx.close());
  const c = await fx.connect();
  const stop = new Promise<number>((resolve) => c.on('push', (p: { commandId: number }) => resolve(p.commandId)));
  // Settle at once so rejections are handled when they happen.
  const pending = Array.from({ length: 200 }, (_, i) =>
    send(c, 80, 81, `m${i}`).then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
  );
  // Close once the proxy is surely mid-stream: the first answer is back, the rest in flight.
  await Promise.race(pending);
  await fx.proxy.close();
  assert.equal(await stop, Cid.CID_OTHER_STOP_RECV_PACKET);
  // What was read is answered; what was still unread gets no answer and is not stored.
  const settled = await Promise.all(pending);
  const acked = settled.filter((s) => s.status === 'fulfilled' && s.value.msgId > 0).length;
  for (const s of settled) if (s.status === 'rejected') assert.ok(isImError(s.reason, ErrorCode.CONNECTION_CLOSED));
  assert.ok(acked > 0);
  const [count] = await fx.storage.pool.query(
    `SELECT SUM(n) AS n FROM (${Array.from({ length: fx.storage.shards }, (_, k) => `SELECT COUNT(*) AS n FROM IMMessage_${k} WHERE fromId = 80`).join(' UNION ALL ')}) t`,
  );
  assert.equal(Number((count as { n: number }[])[0]!.n), acked, 'stored rows are exactly the acked messages');
});

test('overload is answered, not buffered', async (t) => {
  const fx = await startTestDbProxy({ DB_PROXY_MAX_QUEUED: '5', DB_PROXY_WORKERS: '0', DB_PROXY_TASKS_PER_WORKER: '1' });
  t.after(() => fx.close());
  const c = await fx.connect();
  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => send(c, 90 + (i % 50), 200 + (i % 50), 'x')));
  const refused = answers.filter((a) => a.msgId === 0).length;
  assert.ok(refused > 0, 'some refused');
  assert.ok(answers.length - refused > 0, 'some stored');
});

test('storage down: requests fail fast with an answer', async (t) => {
  const fx = await startTestDbProxy({ REDIS_URL: 'redis://127.0.0.1:1', DB_PROXY_REDIS_TIMEOUT_MS: '200', DB_PROXY_CONNECT_TIMEOUT_MS: '200' });
  t.after(() => fx.close());
  const c = await fx.connect();
  const started = Date.now();
  assert.equal((await send(c, 1, 2, 'no redis')).msgId, 0);
  assert.ok(Date.now() - started < 3000);
});

for (const which of ['Redis', 'MySQL'] as const) {
  test(`${which} goes away and comes back: failures are answered fast, then it recovers alone`, async (t) => {
    const storage = await createTestStorage();
    const url = new URL(which === 'Redis' ? storage.redisUrl : storage.mysqlUrl);
    const relay = new TcpRelay({ host: url.hostname, port: Number(url.port) });
    url.port = String(await relay.start());
    const fx = await startTestDbProxy(
      { [which === 'Redis' ? 'REDIS_URL' : 'MYSQL_URL']: url.toString(), DB_PROXY_QUERY_TIMEOUT_MS: '1000', DB_PROXY_CONNECT_TIMEOUT_MS: '500', DB_PROXY_REDIS_TIMEOUT_MS: '500' },
      storage,
    );
    t.after(async () => {
      await fx.close();
      await relay.stop();
      await storage.cleanup();
    });
    const c = await fx.connect();
    const first = await send(c, 1, 2, 'before');
    assert.ok(first.msgId > 0);
    await relay.stop();
    const started = Date.now();
    assert.equal((await send(c, 1, 2, 'while away')).msgId, 0);
    assert.ok(Date.now() - started < 3000, 'answered within a bounded time');
    await relay.start();
    let after = 0;
    for (let i = 0; i < 50 && after === 0; i++) {
      after = (await send(c, 1, 2, 'after')).msgId;
      if (after === 0) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(after > first.msgId, 'recovered without a restart, ids still increasing');
  });
}
