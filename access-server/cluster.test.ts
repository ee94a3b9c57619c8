import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import type { RunningRouteServer } from '../route-server/route-server.ts';
import type { RunningAccessServer } from './access-server.ts';
import { collectPushes, MOBILE, nextPush, PC, startAccessFixture, waitFor, whenClosed, type AccessFixture } from '../test/helpers/access-server.ts';
import { startTestRouteServer } from '../test/helpers/route-server.ts';

let fx: AccessFixture;
let routes: RunningRouteServer[];
let a: RunningAccessServer;
let b: RunningAccessServer;

before(async () => {
  routes = [await startTestRouteServer(), await startTestRouteServer()];
  fx = await startAccessFixture({ ROUTE_SERVERS: routes.map((r) => `127.0.0.1:${r.address.port}`).join(',') });
  a = await fx.startServer({ ACCESS_SERVER_ID: 'access-a' });
  b = await fx.startServer({ ACCESS_SERVER_ID: 'access-b' });
  assert.ok(await a.route.whenConnected(3000));
  assert.ok(await b.route.whenConnected(3000));
  await fx.seedUsers(14);
});
after(async () => {
  await fx.close();
  for (const r of routes) await r.close();
});

/** Waits until every route-server sees `uid` on `count` servers. */
async function routeSees(uid: number, count = 1): Promise<void> {
  await waitFor(() => routes.every((r) => [...r.presence.holders(uid)].length === count), 3000, `user ${uid} on ${count} server(s) at every route-server`);
}

function text(from: number, to: number, s: string, msgType = 1): IM.Message.IIMMsgData {
  return { fromUserId: from, toSessionId: to, msgId: 0, createTime: 0, msgType, msgData: Buffer.from(s) };
}

test('registration: every route-server knows both access servers', async () => {
  await waitFor(() => routes.every((r) => r.presence.serverCount === 2), 3000, 'two servers registered');
});

test('1:1 across servers: 20 messages arrive in order with their ids, and at the sender\'s other device', async () => {
  const alice = await fx.login(a, 1, PC);
  const aliceMobile = await fx.login(b, 1, MOBILE);
  const bob = await fx.login(b, 2, PC);
  await routeSees(1, 2);
  await routeSees(2);
  const atBob = collectPushes(bob, Cid.CID_MSG_DATA, 20, 5000);
  const atMobile = collectPushes(aliceMobile, Cid.CID_MSG_DATA, 20, 5000);
  const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.request(Cid.CID_MSG_DATA, text(1, 2, `x${i}`))));
  const ids = acks.map((r) => (r.message as IM.Message.IMMsgDataAck).msgId);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!);
  assert.deepEqual((await atBob).map((r) => (r.message as IM.Message.IMMsgData).msgId), ids);
  assert.deepEqual((await atMobile).map((r) => (r.message as IM.Message.IMMsgData).msgId), ids);
});

test('a duplicate login on another server kicks and closes the old connection', async () => {
  const first = await fx.login(a, 3, PC);
  await routeSees(3);
  const kicked = nextPush(first, Cid.CID_LOGIN_KICK_USER);
  const closed = whenClosed(first);
  const second = await fx.login(b, 3, PC);
  assert.equal(((await kicked).message as IM.Login.IMKickUser).kickReason, 1);
  await closed;
  await waitFor(() => a.sessions.conns(3).length === 0);
  assert.equal(b.sessions.conns(3).length, 1);
  await second.request(Cid.CID_MSG_TIME_REQUEST, {});
});

test('two simultaneous logins on two servers leave exactly one session', async () => {
  for (let round = 0; round < 5; round++) {
    const uid = 4;
    const clients = await Promise.all([fx.login(a, uid, PC), fx.login(b, uid, PC)]);
    await waitFor(() => a.sessions.conns(uid).length + b.sessions.conns(uid).length === 1, 3000, `round ${round}: one session`);
    for (const c of clients) c.destroy();
    await waitFor(() => a.sessions.conns(uid).length + b.sessions.conns(uid).length === 0);
  }
});

test('group messages and read notifies cross servers', async () => {
  const pool = fx.dbProxy.storage.pool;
  const now = Math.floor(Date.now() / 1000);
  await pool.query('INSERT INTO IMGroup (id, name, creator, type, userCnt, status, version, created, updated) VALUES (700, ?, 5, 1, 3, 0, 1, ?, ?)', ['g', now, now]);
  await pool.query('INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ?', [[5, 6, 7].map((u) => [700, u, 0, now, now])]);
  const sender = await fx.login(a, 5, PC);
  const m6 = await fx.login(b, 6, PC);
  const m6mobile = await fx.login(a, 6, MOBILE);
  const m7 = await fx.login(b, 7, MOBILE);
  await routeSees(6, 2);
  await routeSees(7);
  const at6 = nextPush(m6, Cid.CID_MSG_DATA);
  const at7 = nextPush(m7, Cid.CID_MSG_DATA);
  const res = await sender.request(Cid.CID_MSG_DATA, text(5, 700, 'hi all', 0x11));
  const msgId = (res.message as IM.Message.IMMsgDataAck).msgId;
  assert.ok(msgId > 0);
  assert.equal(((await at6).message as IM.Message.IMMsgData).msgId, msgId);
  assert.equal(((await at7).message as IM.Message.IMMsgData).msgId, msgId);
  const notified = nextPush(m6mobile, Cid.CID_MSG_READ_NOTIFY);
  m6.send(Cid.CID_MSG_READ_ACK, { userId: 6, sessionId: 700, msgId, sessionType: 2 });
  assert.equal(((await notified).message as IM.Message.IMMsgDataReadNotify).msgId, msgId);
});

test('a logout on one server is seen offline by the route-servers', async () => {
  const c = await fx.login(b, 8, PC);
  await routeSees(8);
  await c.request(Cid.CID_LOGIN_REQ_LOGINOUT, {});
  await routeSees(8, 0);
});

test('users status comes from the route-servers: a PC user on the other server is online, a user only on a phone is not', async () => {
  const asker = await fx.login(a, 9, PC);
  const other = await fx.login(b, 10, PC);
  const phone = await fx.login(b, 12, MOBILE);
  await routeSees(10);
  await routeSees(12);
  const rsp = await asker.request(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 9, userIdList: [10, 11, 9, 12] });
  const list = (rsp.message as IM.Buddy.IMUsersStatRsp).userStatList.map((u) => [u.userId, u.status]);
  assert.deepEqual(list, [[10, 1], [11, 2], [9, 1], [12, 2]]);
  other.destroy();
  phone.destroy();
});

/** A PC client of user `n` on server a, recording the statuses of `of` it is told. */
async function statusWatcher(n: number, of: number): Promise<{ watcher: Awaited<ReturnType<AccessFixture['login']>>; seen: number[] }> {
  const watcher = await fx.login(a, n, PC);
  const seen: number[] = [];
  watcher.on('push', (r: { commandId: number; message: unknown }) => {
    if (r.commandId !== Cid.CID_BUDDY_LIST_STATUS_NOTIFY) return;
    const m = r.message as IM.Buddy.IMUserStatNotify;
    if (m.userStat.userId === of) seen.push(m.userStat.status);
  });
  return { watcher, seen };
}

test('a status change reaches PC clients on the other server once, through two route-servers', async () => {
  const { watcher, seen } = await statusWatcher(13, 14);
  const user = await fx.login(b, 14, PC);
  await waitFor(() => seen.length >= 1, 3000, 'online notify on the other server');
  await user.request(Cid.CID_LOGIN_REQ_LOGINOUT, {});
  user.destroy();
  await waitFor(() => seen.length >= 2, 3000, 'offline notify on the other server');
  // Both route-servers sent each change; the access server takes them from one.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen, [1, 2]);
  watcher.destroy();
});

test('a PC login moving to the other server leaves every watcher seeing the user online', async () => {
  const { watcher, seen } = await statusWatcher(13, 14);
  const first = await fx.login(a, 14, PC);
  await waitFor(() => seen.length >= 1, 3000, 'online notify');
  const second = await fx.login(b, 14, PC);
  await whenClosed(first);
  await routeSees(14);
  await new Promise((r) => setTimeout(r, 300));
  // The old server has no PC of the user left, but the cluster has: no offline notify.
  assert.equal(seen.at(-1), 1, `statuses seen: ${seen.join(',')}`);
  assert.ok(!seen.includes(2), `statuses seen: ${seen.join(',')}`);
  second.destroy();
  watcher.destroy();
});
