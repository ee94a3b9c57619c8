import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PduClient } from '../proto/client.ts';
import { Cid } from '../proto/commands.ts';
import { startTestDbProxy, type DbProxyFixture } from '../test/helpers/db-proxy.ts';

const send = async (c: PduClient, from: number, to: number, data: Buffer): Promise<number> =>
  (
    (
      await c.request(
        Cid.CID_MSG_DATA,
        { fromUserId: from, toSessionId: to, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: data },
        { expect: Cid.CID_MSG_DATA },
      )
    ).message as { msgId: number }
  ).msgId;

async function until(check: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Holds a MySQL table lock while `fn` runs: what needs the table waits. */
async function withTableLocked(fx: DbProxyFixture, table: string, fn: () => Promise<void>): Promise<void> {
  const locker = await fx.storage.pool.getConnection();
  try {
    await locker.query(`LOCK TABLES ${table} WRITE`);
    await fn();
  } finally {
    await locker.query('UNLOCK TABLES');
    locker.release();
  }
}

test('conversation order across commands and budgets', async (t) => {
  const fx = await startTestDbProxy({ DB_PROXY_MAX_QUEUED_BYTES: String(64 * 1024) });
  t.after(() => fx.close());
  const c = await fx.connect();
  const stats = fx.proxy.server.stats;

  await t.test('a read ack cannot overtake the message before it', async () => {
    let answered: Promise<number> | undefined;
    await withTableLocked(fx, 'IMRelationShip', async () => {
      const before = stats.requests;
      answered = send(c, 61, 62, Buffer.from('first message: its relation is being made'));
      await until(() => stats.requests === before + 1, 'the message to arrive');
      c.send(Cid.CID_MSG_READ_ACK, { userId: 62, sessionId: 61, msgId: 1, sessionType: 1 }, 900);
      await until(() => stats.requests === before + 2, 'the read ack to arrive');
    });
    assert.equal(await answered, 1);
    // Ordered after the read ack by user: once it is answered, the read ack has run.
    await c.request(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: 62 }, { expect: Cid.CID_MSG_UNREAD_CNT_RESPONSE });
    assert.equal(await fx.storage.redis.hget('unread_62', '61'), null, 'read after the message: nothing unread');
  });

  await t.test('texts the column cannot hold are refused before a msg id is spent', async () => {
    assert.equal(await send(c, 70, 71, Buffer.from('a')), 1);
    assert.equal(await send(c, 70, 71, Buffer.from('x'.repeat(4097))), 0, 'over 4096 characters');
    assert.equal(await send(c, 70, 71, Buffer.from([0x61, 0xff, 0xfe])), 0, 'not UTF-8');
    assert.equal(await send(c, 70, 71, Buffer.from([0xed, 0xa0, 0x80])), 0, 'an encoded surrogate');
    assert.equal(await send(c, 70, 71, Buffer.from('😀'.repeat(4096))), 2, '4096 characters of 4 bytes fit');
    assert.equal(await send(c, 70, 71, Buffer.from('b')), 3, 'no id was spent on the refused ones');
  });

  await t.test('past the byte budget requests are refused at once, and the rest are stored', async () => {
    assert.ok((await send(c, 80, 81, Buffer.from('make the relation'))) > 0);
    const [rel] = await fx.storage.pool.query('SELECT id FROM IMRelationShip WHERE smallId = 80 AND bigId = 81');
    const table = `IMMessage_${(rel as { id: number }[])[0]!.id % fx.storage.shards}`;
    const big = Buffer.from('😀'.repeat(4000)); // 16,000 bytes: four fit in the 64 KiB budget
    const results: number[] = [];
    let all: Promise<number[]> | undefined;
    await withTableLocked(fx, table, async () => {
      all = Promise.all(Array.from({ length: 10 }, () => send(c, 80, 81, big).then((id) => (results.push(id), id))));
      await until(() => results.filter((id) => id === 0).length >= 5, 'refusals while the budget is spent', 2000);
    });
    const ids = await all!;
    const acked = ids.filter((id) => id > 0).length;
    assert.ok(acked >= 1 && acked <= 4, `acked ${acked}`);
    const [rows] = await fx.storage.pool.query(`SELECT COUNT(*) AS n FROM ${table} WHERE fromId = 80`);
    assert.equal(Number((rows as { n: number }[])[0]!.n), acked + 1, 'stored rows are the acked ones');
    assert.equal(fx.proxy.server.heldBytes, 0, 'the budget is given back');
  });
});
