import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { Cid } from '../proto/commands.ts';
import { freePort, findBinary } from '../scripts/stack-process.ts';
import { startTestDbProxy } from '../test/helpers/db-proxy.ts';
import { createTestStorage } from '../test/helpers/storage.ts';

/** A private redis-server that keeps nothing on disk: a restart is an empty Redis. */
async function startPrivateRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(findBinary('redis-server') ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return child;
    } catch {
      if (Date.now() > deadline) throw new Error('private redis-server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const USERS = [1, 2, 3, 4];

/** The oracle: every acked message, and what each user has read. */
class Model {
  readonly sent: { from: number; to: number; group: boolean; msgId: number }[] = [];
  /** `${user}:${g|s}${peer}` → index in `sent` up to which the user has read. */
  readonly readUpTo = new Map<string, number>();

  unread(u: number, groupId: number): { total: number; byPeer: Map<string, number> } {
    const byPeer = new Map<string, number>();
    this.sent.forEach((m, i) => {
      if (m.group ? !USERS.includes(u) || m.to !== groupId : m.to !== u) return;
      const key = `${u}:${m.group ? 'g' : 's'}${m.group ? m.to : m.from}`;
      if (i <= (this.readUpTo.get(key) ?? -1)) return;
      const peer = m.group ? `2:${m.to}` : `1:${m.from}`;
      byPeer.set(peer, (byPeer.get(peer) ?? 0) + 1);
    });
    let total = 0;
    for (const n of byPeer.values()) total += n;
    return { total, byPeer };
  }
}

/**
 * db-proxy on a private Redis it may kill, a fresh database, a connection
 * and a group of USERS; `loseRedis` kills Redis and starts it again empty.
 */
async function lossFixture(t: TestContext, o: { settleMs: number; batch: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'tt-redis-loss-'));
  const port = await freePort();
  let redisProc = await startPrivateRedis(port, dir);
  t.after(() => {
    redisProc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const storage = await createTestStorage();
  t.after(() => storage.cleanup());
  const env = { REDIS_URL: `redis://127.0.0.1:${port}`, DB_PROXY_REDIS_CHECK_MS: '100', DB_PROXY_REBUILD_SETTLE_MS: String(o.settleMs), DB_PROXY_REBUILD_BATCH: String(o.batch) };
  const fx = await startTestDbProxy(env, storage);
  t.after(() => fx.close());
  const guard = fx.proxy.redisGuard;
  await until(() => guard.stats.completed > 0, 5000, 'first check done');
  const c = await fx.connect();
  const created = await c.request(Cid.CID_GROUP_CREATE_REQUEST, { userId: 1, groupType: 2, groupName: 'g', groupAvatar: '', memberIdList: [2, 3, 4] });
  const groupId = (created.message as { groupId: number }).groupId;
  assert.ok(groupId > 0);
  const loseRedis = async (): Promise<void> => {
    redisProc.kill('SIGKILL');
    await new Promise((r) => redisProc.once('exit', r));
    redisProc = await startPrivateRedis(port, dir);
  };
  return { storage, guard, c, groupId, loseRedis };
}

test('unread counters are exact after Redis restarts empty, with messages sent during the rebuild', async (t) => {
  const { storage, guard, c, groupId, loseRedis } = await lossFixture(t, { settleMs: 150, batch: 2 });
  const model = new Model();
  let seq = 0;
  const sendOne = async (): Promise<void> => {
    const n = seq++;
    const from = USERS[n % 4]!;
    const group = n % 3 === 0;
    const to = group ? groupId : USERS[(n * 7 + 1 + (n % 4)) % 4] === from ? USERS[(n % 4 + 1) % 4]! : USERS[(n * 7 + 1 + (n % 4)) % 4]!;
    const r = await c.request(
      Cid.CID_MSG_DATA,
      { fromUserId: from, toSessionId: to, msgId: 0, createTime: 0, msgType: group ? 17 : 1, msgData: Buffer.from(`m${n}`) },
      { expect: Cid.CID_MSG_DATA },
    );
    const msgId = (r.message as { msgId: number }).msgId;
    if (msgId > 0) {
      model.sent.push({ from, to, group, msgId });
      if (group) model.readUpTo.set(`${from}:g${groupId}`, model.sent.length - 1); // a sender has read the group
    }
  };
  const readAck = async (user: number, peer: number, group: boolean): Promise<void> => {
    c.send(Cid.CID_MSG_READ_ACK, { userId: user, sessionId: peer, msgId: 0, sessionType: group ? 2 : 1 });
    const before = model.sent.length;
    model.readUpTo.set(`${user}:${group ? 'g' : 's'}${peer}`, before - 1);
    await until(async () => {
      // A member's row exists from its join (position 0): wait for the ack's position.
      const [rows] = await storage.pool.query(`SELECT msgId FROM IMSessionRead WHERE userId = ? AND peerId = ? AND type = ?${group ? ' AND msgId > 0' : ''}`, [user, peer, group ? 2 : 1]);
      return (rows as unknown[]).length > 0;
    }, 3000, 'read position saved');
  };

  for (let i = 0; i < 60; i++) await sendOne();
  await readAck(2, 1, false);
  await readAck(3, groupId, true);
  await readAck(1, 4, false);
  for (let i = 0; i < 30; i++) await sendOne();
  const lastBefore = Math.max(...model.sent.map((m) => m.msgId));

  // Redis dies and comes back empty; messages keep coming while it is away and while counters are rebuilt.
  const rebuildsBefore = guard.stats.completed;
  await loseRedis();
  let duringRebuild = 0;
  for (let i = 0; i < 80; i++) {
    await sendOne();
    if (guard.stats.rebuilding) duringRebuild++;
    await new Promise((r) => setTimeout(r, 5));
  }
  await until(() => guard.stats.completed > rebuildsBefore, 15_000, 'counters rebuilt');
  assert.ok(duringRebuild > 0, 'some messages were stored while the counters were being rebuilt');
  assert.ok(lastBefore > 0);
  // Msg ids re-seed from MySQL: per conversation strictly increasing across the loss, never reused.
  const lastOf = new Map<string, number>();
  for (const m of model.sent) {
    const conv = m.group ? `g${m.to}` : `s${Math.min(m.from, m.to)}:${Math.max(m.from, m.to)}`;
    assert.ok(m.msgId > (lastOf.get(conv) ?? 0), `msg ids increase in ${conv}`);
    lastOf.set(conv, m.msgId);
  }

  for (const u of USERS) {
    const r = await c.request(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: u }, { expect: Cid.CID_MSG_UNREAD_CNT_RESPONSE });
    const got = r.message as { totalCnt: number; unreadinfoList: { sessionId: number; sessionType: number; unreadCnt: number }[] };
    const want = model.unread(u, groupId);
    assert.deepEqual(
      new Map(got.unreadinfoList.map((i) => [`${i.sessionType}:${i.sessionId}`, i.unreadCnt])),
      want.byPeer,
      `user ${u}: unread per session`,
    );
    assert.equal(got.totalCnt, want.total, `user ${u}: total`);
  }
});

test('counters are rebuilt while every conversation and a group keep receiving messages, concurrently, and a read ack lands mid-rebuild', async (t) => {
  const { storage, guard, c, groupId, loseRedis } = await lossFixture(t, { settleMs: 300, batch: 1 });
  // Busy for the whole rebuild: 1↔2 and 3↔4 both ways, and 1 and 2 in the group; 1→3 is read by 3 while the rebuild runs.
  const routes: [number, number, boolean][] = [[1, 2, false], [2, 1, false], [3, 4, false], [4, 3, false], [1, groupId, true], [2, groupId, true]];
  const acked = new Map<string, number>();
  const groupMsgs: { from: number; msgId: number }[] = [];
  let n = 0;
  const send = async (from: number, to: number, group: boolean): Promise<void> => {
    const r = await c.request(
      Cid.CID_MSG_DATA,
      { fromUserId: from, toSessionId: to, msgId: 0, createTime: 0, msgType: group ? 17 : 1, msgData: Buffer.from(`b${n++}`) },
      { expect: Cid.CID_MSG_DATA },
    );
    const msgId = (r.message as { msgId: number }).msgId;
    if (msgId <= 0) return;
    if (group) groupMsgs.push({ from, msgId });
    else acked.set(`${to}:${from}`, (acked.get(`${to}:${from}`) ?? 0) + 1);
  };
  for (let i = 0; i < 10; i++) await Promise.all([...routes, [1, 3, false] as [number, number, boolean]].map(([f, to, g]) => send(f, to, g)));
  // 3 has read the group so far (before the loss: its position is in MySQL).
  c.send(Cid.CID_MSG_READ_ACK, { userId: 3, sessionId: groupId, msgId: 0, sessionType: 2 });
  const readBy3 = Math.max(...groupMsgs.map((m) => m.msgId));
  await until(async () => {
    // The row exists from the join (position 0): wait for the ack's position.
    const [rows] = await storage.pool.query('SELECT msgId FROM IMSessionRead WHERE userId = 3 AND peerId = ? AND type = 2 AND msgId >= ?', [groupId, readBy3]);
    return (rows as unknown[]).length > 0;
  }, 3000, 'group read position saved');

  const rebuildsBefore = guard.stats.completed;
  await loseRedis();
  let stop = false;
  let sentDuringRebuild = 0;
  const busy = routes.map(async ([f, to, g]) => {
    while (!stop) {
      await send(f, to, g);
      if (guard.stats.rebuilding) sentDuringRebuild++;
    }
  });
  await until(() => guard.stats.rebuilding, 5000, 'rebuild started');
  c.send(Cid.CID_MSG_READ_ACK, { userId: 3, sessionId: 1, msgId: 0, sessionType: 1 });
  acked.delete('3:1');
  // With traffic on every conversation the rebuild must still finish (nothing that traffic keeps failing).
  await until(() => guard.stats.completed > rebuildsBefore, 20_000, 'counters rebuilt under traffic');
  const stillBusy = !stop;
  stop = true;
  await Promise.all(busy);
  assert.ok(stillBusy);
  assert.ok(sentDuringRebuild > 20, `messages stored during the rebuild: ${sentDuringRebuild}`);
  // Group: unread = messages after the member's own last one, or after its read ack.
  const groupUnread = (u: number): number => {
    const own = Math.max(0, ...groupMsgs.filter((m) => m.from === u).map((m) => m.msgId));
    const pos = Math.max(own, u === 3 ? readBy3 : 0);
    return groupMsgs.filter((m) => m.msgId > pos).length;
  };
  for (const u of USERS) {
    const r = await c.request(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: u }, { expect: Cid.CID_MSG_UNREAD_CNT_RESPONSE });
    const got = (r.message as { unreadinfoList: { sessionId: number; sessionType: number; unreadCnt: number }[] }).unreadinfoList;
    const want = new Map([...acked].filter(([k]) => k.startsWith(`${u}:`)).map(([k, v]) => [`1:${k.split(':')[1]}`, v]));
    if (groupUnread(u) > 0) want.set(`2:${groupId}`, groupUnread(u));
    assert.deepEqual(new Map(got.map((i) => [`${i.sessionType}:${i.sessionId}`, i.unreadCnt])), want, `user ${u}: unread per session`);
  }
});
