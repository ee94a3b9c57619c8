/**
 * The cluster end to end, as separate processes: db-proxy, two route-servers
 * and two access servers (a, b) started like `npm start` starts them, on a
 * private database and Redis prefix; clients are ImSessions (plain
 * PduClients where a client must misbehave).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { PduClient } from '../proto/client.ts';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { findMsgServer } from '../proto/msg-server-lookup.ts';
import { ClientType, ImSession, md5hex, SessionType, type IncomingMessage } from '../proto/session.ts';
import { startNode, type NodeProcess } from '../scripts/bench-cluster/cluster.ts';
import { hashPassword } from '../scripts/client/create-user.ts';
import { createTestStorage, type TestStorage } from './helpers/storage.ts';
import { TEST_CLUSTER_SECRET } from './helpers/db-proxy.ts';

const procs: NodeProcess[] = [];
const sessions: ImSession[] = [];
/** Sessions whose connection has closed (recorded from login on, so an early kick is not missed). */
const closed = new Set<ImSession>();
let storage: TestStorage;
let ports: [number, number];
let routeUrls: string[];
const log = (m: string): void => void (process.env.TEST_LOG_LEVEL ? console.error(m) : undefined);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const port = (p: NodeProcess, key: string): number => (p.ready[key] as { port: number }).port;
/** Starts a process and registers it for after(), even when a sibling fails to start. */
const start = (...args: Parameters<typeof startNode>): Promise<NodeProcess> => startNode(...args).then((p) => (procs.push(p), p));

before(async () => {
  storage = await createTestStorage();
  const now = Math.floor(Date.now() / 1000);
  const users = Array.from({ length: 20 }, (_, i) => [i + 1, `u${i + 1}`, `u${i + 1}`, ...hashPassword(`pw${i + 1}`), 1, 0, now, now]);
  await storage.pool.query('INSERT INTO IMUser (id, name, nick, password, salt, departId, status, created, updated) VALUES ?', [users]);
  // No warm-up hold on the route-servers: a delivery to a user not online yet would be pushed if they logged in
  // within it (route-server/routing.test.ts covers the hold), and these tests assert what an offline user gets.
  const base = { MYSQL_URL: storage.mysqlUrl, REDIS_URL: storage.redisUrl, REDIS_KEY_PREFIX: storage.keyPrefix, SHARDS: String(storage.shards), CLUSTER_SECRET: TEST_CLUSTER_SECRET };
  const started = await Promise.all([
    start('db-proxy', 'db-proxy/main.ts', { ...base, DB_PROXY_PORT: '0', DB_PROXY_HTTP_PORT: '0', DB_PROXY_WORKERS: '1', DB_PROXY_SHUTDOWN_TIMEOUT_MS: '2000' }, 'db-proxy listening', log),
    ...['1', '2'].map((n) => start(`route-${n}`, 'route-server/main.ts', { ROUTE_SERVER_PORT: '0', ROUTE_HTTP_PORT: '0', ROUTE_LOGIN_PORT: '0', ROUTE_WARMUP_HOLD_MS: '0', CLUSTER_SECRET: TEST_CLUSTER_SECRET }, 'route-server listening', log)),
  ]);
  const [db, ...routes] = started as [NodeProcess, NodeProcess, NodeProcess];
  routeUrls = routes.map((r) => `http://127.0.0.1:${port(r, 'http')}`);
  const access = await Promise.all(
    ['a', 'b'].map((id) =>
      start(`access-${id}`, 'access-server/main.ts', {
        ...base,
        ACCESS_SERVER_ID: id,
        ACCESS_PORT: '0',
        ACCESS_MAX_CONNECTIONS: '100',
        ACCESS_MAX_OUTBOUND_BYTES: '262144',
        ACCESS_DRAIN_TIMEOUT_MS: '300',
        ACCESS_SHUTDOWN_TIMEOUT_MS: '1000',
        // Every login comes from loopback: the per-source login throttle is raised out of the way.
        ACCESS_LOGIN_RATE_PER_SEC: '100000',
        ACCESS_LOGIN_BURST: '100000',
        DB_PROXY_ADDRS: `127.0.0.1:${port(db, 'address')}`,
        ROUTE_SERVERS: routes.map((r) => `127.0.0.1:${port(r, 'links')}`).join(','),
      }, 'access-server listening', log),
    ),
  );
  ports = [port(access[0]!, 'address'), port(access[1]!, 'address')];
});

after(async () => {
  for (const s of sessions) s.destroy();
  await Promise.all([...procs].reverse().map((p) => p.stop()));
  await storage?.cleanup();
});

/** User n logged in on access server 0 (a) or 1 (b). */
async function login(server: 0 | 1, n: number, clientType: number = ClientType.WINDOWS): Promise<ImSession> {
  const s = await ImSession.login({ port: ports[server], userName: `u${n}`, password: `pw${n}`, clientType, heartbeatIntervalMs: 0 });
  sessions.push(s);
  s.once('close', () => closed.add(s));
  return s;
}

function nextMessage(s: ImSession, pred: (m: IncomingMessage) => boolean = () => true, timeoutMs = 3000): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (s.off('message', on), reject(new Error(`no message for user ${s.userId} in ${timeoutMs} ms`))), timeoutMs);
    const on = (m: IncomingMessage): void => {
      if (!pred(m)) return;
      clearTimeout(timer);
      s.off('message', on);
      resolve(m);
    };
    s.on('message', on);
  });
}

/** Probes until `to` gets one from `from`: the route-servers then know where `to` is. */
async function reachable(from: ImSession, to: ImSession, groupId = 0): Promise<void> {
  const got = nextMessage(to, (m) => m.fromUserId === from.userId && m.text === 'probe', 5000);
  const timer = setInterval(() => void (groupId ? from.sendGroupText(groupId, 'probe') : from.sendText(to.userId, 'probe')), 100);
  try {
    await got;
  } finally {
    clearInterval(timer);
  }
}

/** Resolves when `c` closes; rejects if it is still open after timeoutMs. */
function closedWithin(c: PduClient, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} is still connected after ${timeoutMs} ms`)), timeoutMs);
    c.once('close', () => (clearTimeout(timer), resolve()));
  });
}

/** `p`, or a rejection naming `what` after timeoutMs: no test waits forever. */
function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Calls `act` every 200 ms until `done` settles; rejects after timeoutMs. */
async function repeatUntil<T>(done: Promise<T>, act: () => void, what: string, timeoutMs = 5000): Promise<T> {
  act();
  const timer = setInterval(act, 200);
  try {
    return await within(done, timeoutMs, what);
  } finally {
    clearInterval(timer);
  }
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

test('GET /msg_server offers the less loaded access server, on every route-server', async () => {
  for (const n of [1, 2]) await login(0, n);
  for (const url of routeUrls) await until(() => findMsgServer(url), (m) => m.port === ports[1], `${url} offers b`);
  for (const n of [3, 4, 5, 6]) await login(1, n);
  for (const url of routeUrls) await until(() => findMsgServer(url), (m) => m.port === ports[0], `${url} offers a`);
  const s = await ImSession.login({ routeUrl: routeUrls[1], userName: 'u15', password: 'pw15', heartbeatIntervalMs: 0 });
  sessions.push(s);
  assert.equal(s.server, `127.0.0.1:${ports[0]}`);
});

test('1:1 chat within one access server and across two', async () => {
  const [alice, bob, carol] = [await login(0, 7), await login(0, 8), await login(1, 9)];
  const atBob = nextMessage(bob);
  const id1 = await alice.sendText(8, 'hi bob');
  assert.ok(id1 > 0);
  assert.deepEqual(await atBob.then((m) => [m.fromUserId, m.msgId, m.text]), [7, id1, 'hi bob']);
  await reachable(alice, carol);
  const atCarol = nextMessage(carol, (m) => m.text === 'hi carol');
  const id2 = await alice.sendText(9, 'hi carol');
  assert.equal((await atCarol).msgId, id2);
  await reachable(carol, alice);
  const atAlice = nextMessage(alice, (m) => m.text === 'hello from b');
  const id3 = await carol.sendText(7, 'hello from b');
  assert.equal((await atAlice).msgId, id3);
});

test('group chat reaches members on both servers, not the sender', async () => {
  const [alice, bob, carol] = sessions.filter((s) => [7, 8, 9].includes(s.userId));
  const created = await alice!.createGroup('lunch', [7, 8, 9]);
  assert.equal(created.resultCode, 0);
  const gid = created.groupId;
  await reachable(alice!, carol!, gid);
  let echoed = false;
  alice!.on('message', (m) => void (m.text === 'noon?' && (echoed = true)));
  const got = [bob!, carol!].map((s) => nextMessage(s, (m) => m.text === 'noon?'));
  const msgId = await alice!.sendGroupText(gid, 'noon?');
  for (const m of await Promise.all(got)) assert.deepEqual([m.group, m.toSessionId, m.fromUserId, m.msgId], [true, gid, 7, msgId]);
  await sleep(200);
  assert.equal(echoed, false);
});

test('an offline user gets nothing pushed, then pulls unread counts and history by msg id; a read ack clears unread and notifies the other device', async () => {
  const alice = sessions.find((s) => s.userId === 7)!;
  const ids: number[] = [];
  for (const t of ['one', 'two', 'three']) ids.push(await alice.sendText(10, t));
  const pc = await login(1, 10);
  const pushed: IncomingMessage[] = [];
  pc.on('message', (m) => pushed.push(m));
  const unread = await pc.unread();
  assert.equal(unread.totalCnt, 3);
  assert.deepEqual(unread.unreadinfoList.map((u) => [u.sessionId, u.unreadCnt, u.latestMsgId]), [[7, 3, ids[2]]]);
  assert.deepEqual((await pc.history(7, SessionType.SINGLE, 0, 10)).map((m) => m.msgId), [...ids].reverse());
  assert.deepEqual((await pc.history(7, SessionType.SINGLE, ids[1], 10)).map((m) => m.msgId), [ids[1], ids[0]]);
  const mobile = await login(0, 10, ClientType.ANDROID);
  const notified = new Promise<IM.Message.IMMsgDataReadNotify>((resolve) =>
    mobile.on('notify', (r) => void (r.commandId === Cid.CID_MSG_READ_NOTIFY && resolve(r.message as IM.Message.IMMsgDataReadNotify))),
  );
  // The route-servers learn of the mobile login asynchronously: a read ack sent
  // before that reaches no one on server a, so repeat it (it is idempotent) until
  // the notify arrives, within a bound.
  const n = await repeatUntil(notified, () => pc.markRead(7, SessionType.SINGLE, ids[2]!), 'read notify on the other device');
  assert.deepEqual([n.userId, n.sessionId, n.msgId, n.sessionType], [10, 7, ids[2], SessionType.SINGLE]);
  await until(() => pc.unread(), (u) => u.totalCnt === 0, 'unread cleared');
  assert.equal(pushed.length, 0);
});

test('a duplicate login kicks and closes the old connection; simultaneous logins on two servers leave one session', async () => {
  const first = await login(0, 11);
  const kicked = within(once(first, 'kicked'), 5000, 'kick of the first login');
  const gone = within(once(first, 'close'), 5000, 'close of the first login');
  await login(1, 11);
  assert.equal(((await kicked)[0] as { kickReason: number }).kickReason, 1);
  await gone;
  for (let round = 0; round < 3; round++) {
    const both = await Promise.all([login(0, 12), login(1, 12)]);
    const open = async (): Promise<number> => both.filter((s) => !closed.has(s)).length;
    await until(open, (n) => n === 1, `round ${round}: one session left`);
    await sleep(300);
    assert.equal(await open(), 1);
    for (const s of both) s.destroy();
  }
});

test('a connection that has not logged in can do nothing but log in', async () => {
  const bob = sessions.find((s) => s.userId === 8)!;
  const before = (await bob.unread()).totalCnt;
  const raw = await PduClient.connect({ port: ports[0], heartbeatIntervalMs: 0, requestTimeoutMs: 1000 });
  const closed = closedWithin(raw, 3000, 'the connection that did not log in');
  raw.send(Cid.CID_MSG_DATA, { fromUserId: 7, toSessionId: 8, msgId: 0, createTime: 0, msgType: 1, msgData: Buffer.from('forged') });
  raw.send(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: 8 });
  await closed;
  await sleep(200);
  assert.equal((await bob.unread()).totalCnt, before);
  assert.ok(!(await bob.history(7, SessionType.SINGLE, 0, 5)).some((m) => Buffer.from(m.msgData).toString() === 'forged'));
});

test('a burst of 20 messages in one conversation keeps its order end to end across servers', async () => {
  const [alice, carol] = [sessions.find((s) => s.userId === 7)!, sessions.find((s) => s.userId === 9)!];
  const got: IncomingMessage[] = [];
  const all = new Promise<void>((resolve) => carol.on('message', (m) => m.text.startsWith('m') && got.push(m) === 20 && resolve()));
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.sendText(9, `m${i}`)));
  for (let i = 1; i < 20; i++) assert.ok(ids[i]! > ids[i - 1]!, `ack ${i} after ack ${i - 1}`);
  await all;
  assert.deepEqual(got.map((m) => [m.msgId, m.text]), ids.map((id, i) => [id, `m${i}`]));
});

test('a slow reader on one server is disconnected without harming others', async () => {
  const alice = sessions.find((s) => s.userId === 7)!;
  const other = await login(1, 14);
  const slow = await PduClient.connect({ port: ports[1], heartbeatIntervalMs: 0 });
  await slow.request(Cid.CID_LOGIN_REQ_USERLOGIN, { userName: 'u13', password: md5hex('pw13'), onlineStatus: 1, clientType: 1 });
  await reachable(alice, other);
  slow.pauseReading();
  const flood = 'x'.repeat(4000);
  for (let i = 0; i < 3000; i++) {
    alice.p2p(13, flood);
    if (i % 200 === 199) await sleep(5);
  }
  await sleep(1000);
  const closed = closedWithin(slow, 5000, 'the slow reader');
  slow.resumeReading();
  await closed;
  const atOther = nextMessage(other, (m) => m.text === 'still fine');
  const msgId = await alice.sendText(14, 'still fine');
  assert.ok(msgId > 0);
  assert.equal((await atOther).msgId, msgId);
});
