import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOutcomeUnknown } from '../common/outcome.ts';
import type { PduClient } from '../proto/client.ts';
import { Cid } from '../proto/commands.ts';
import { startTestDbProxy, type DbProxyFixture } from '../test/helpers/db-proxy.ts';
import { createTestStorage, type TestStorage } from '../test/helpers/storage.ts';
import { TcpRelay } from '../test/helpers/tcp-relay.ts';

interface Sent {
  text: string;
  from: number;
  msgId: number;
  unknown: boolean;
  ms: number;
}

async function send(c: PduClient, from: number, to: number, text: string): Promise<Sent> {
  const started = Date.now();
  const r = await c.request(
    Cid.CID_MSG_DATA,
    { fromUserId: from, toSessionId: to, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: Buffer.from(text) },
    { expect: Cid.CID_MSG_DATA },
  );
  return { text, from, msgId: (r.message as { msgId: number }).msgId, unknown: isOutcomeUnknown(r.header), ms: Date.now() - started };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Stored rows to `to`, by content (read past the relay, straight from MySQL). */
async function storedTo(storage: TestStorage, to: number): Promise<Map<string, { msgId: number; fromId: number }>> {
  const sql = Array.from({ length: storage.shards }, (_, k) => `SELECT msgId, fromId, content FROM IMMessage_${k} WHERE toId = ?`).join(' UNION ALL ');
  const [rows] = await storage.pool.query(sql, Array(storage.shards).fill(to));
  return new Map((rows as { msgId: number; fromId: number; content: string }[]).map((r) => [String(r.content), { msgId: r.msgId, fromId: r.fromId }]));
}

async function metric(fx: DbProxyFixture, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${fx.proxy.httpPort}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** A db-proxy whose MySQL is behind a relay the test can freeze or cut. */
async function behindRelay(t: { after(fn: () => Promise<void>): void }): Promise<{ fx: DbProxyFixture; relay: TcpRelay; storage: TestStorage }> {
  const storage = await createTestStorage();
  const url = new URL(storage.mysqlUrl);
  const relay = new TcpRelay({ host: url.hostname, port: Number(url.port) });
  url.port = String(await relay.start());
  const fx = await startTestDbProxy({ MYSQL_URL: url.toString(), DB_PROXY_FAIL_FAST_MS: '1000' }, storage);
  t.after(async () => {
    await fx.close();
    await relay.stop();
    await storage.cleanup();
  });
  return { fx, relay, storage };
}

test('a commit whose answer is lost is found stored and answered with its msg id', async (t) => {
  const { fx, relay, storage } = await behindRelay(t);
  const c = await fx.connect();
  assert.equal((await send(c, 1, 2, 'first')).msgId, 1);
  relay.holdAnswers();
  const pending = send(c, 1, 2, 'committed, answer lost');
  await until(async () => (await storedTo(storage, 2)).has('committed, answer lost'), 'the row to commit');
  relay.cut(); // the connection drops after COMMIT ran: an ambiguous failure
  const a = await pending;
  assert.equal(a.msgId, 2, 'stored, and said so');
  assert.equal(a.unknown, false);
  assert.equal(await storage.redis.hget('unread_2', '1'), '2', 'its unread count is kept');
  assert.equal((await send(c, 1, 2, 'next')).msgId, 3);
});

test('MySQL frozen: every message answered within the bound, none refused that is stored, unknowns resolved after', async (t) => {
  const { fx, relay, storage } = await behindRelay(t);
  const c = await fx.connect();
  const senders = [11, 12, 13, 14];
  for (const s of senders) assert.ok((await send(c, s, 50, `warm ${s}`)).msgId > 0);
  relay.freeze();
  const sends: Promise<Sent>[] = [];
  for (let round = 0; round < 6; round++) {
    for (const s of senders) sends.push(send(c, s, 50, `r${round} from ${s}`));
    await new Promise((r) => setTimeout(r, 250));
  }
  const answers = await Promise.all(sends);
  relay.thaw();
  const slowest = Math.max(...answers.map((a) => a.ms));
  assert.ok(slowest < 1500, `every answer within 1.5 s (slowest ${slowest} ms)`);
  assert.ok(answers.some((a) => a.unknown), 'a message whose commit was in flight is answered "unknown"');
  assert.ok(answers.every((a) => a.msgId === 0), 'nothing could be confirmed while frozen');

  await until(async () => (await metric(fx, 'dbproxy_msg_unresolved')) === 0, 'unknown outcomes to be resolved', 15_000);
  const stored = await storedTo(storage, 50);
  const unknown = answers.filter((a) => a.unknown);
  t.diagnostic(
    `${answers.length} sent while frozen: slowest answer ${slowest} ms, ${unknown.length} "unknown" ` +
      `(${unknown.filter((a) => stored.has(a.text)).length} of them stored in the end), ` +
      `${answers.length - unknown.length} refused (${answers.filter((a) => !a.unknown && stored.has(a.text)).length} of them stored)`,
  );
  for (const a of answers) {
    if (!a.unknown) assert.ok(!stored.has(a.text), `"${a.text}" was answered "not stored" and must not be stored`);
  }
  assert.ok(await metric(fx, 'dbproxy_msg_resolved_stored_total') > 0 || (await metric(fx, 'dbproxy_msg_resolved_absent_total')) > 0);
  for (const s of senders) {
    const rows = [...stored.values()].filter((r) => r.fromId === s).length;
    assert.equal(Number(await storage.redis.hget('unread_50', String(s))), rows, `unread of ${s} equals its stored rows`);
  }
  // Recovered alone, ids still increasing.
  let after = 0;
  await until(async () => (after = (await send(c, 11, 50, 'after')).msgId) > 0, 'a stored message after the freeze');
  assert.ok(after > Math.max(...[...stored.values()].filter((r) => r.fromId === 11).map((r) => r.msgId)));
});

test('Redis frozen: every message answered within the bound, and none refused that is stored', async (t) => {
  const storage = await createTestStorage();
  const url = new URL(storage.redisUrl);
  const relay = new TcpRelay({ host: url.hostname, port: Number(url.port) });
  url.port = String(await relay.start());
  const fx = await startTestDbProxy({ REDIS_URL: url.toString(), DB_PROXY_FAIL_FAST_MS: '1000' }, storage);
  t.after(async () => {
    await fx.close();
    await relay.stop();
    await storage.cleanup();
  });
  const c = await fx.connect();
  assert.ok((await send(c, 21, 60, 'warm')).msgId > 0);
  relay.freeze();
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send(c, 21, 60, `frozen ${i}`)));
  relay.thaw();
  const slowest = Math.max(...answers.map((a) => a.ms));
  assert.ok(slowest < 1500, `every answer within 1.5 s (slowest ${slowest} ms)`);
  const stored = await storedTo(storage, 60);
  for (const a of answers) if (a.msgId === 0 && !a.unknown) assert.ok(!stored.has(a.text), `"${a.text}" refused but stored`);
  let after = 0;
  await until(async () => (after = (await send(c, 21, 60, 'after')).msgId) > 0, 'a stored message after the freeze');
  assert.ok(after > 1);
});
