/**
 * Server links are authenticated: an unauthenticated peer on a db-proxy or
 * route-server port reads, writes and registers nothing; TeamTalk's own
 * servers are admitted only from addresses the operator lists; links and
 * handshakes are capped; a live server id is never taken over silently.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { ErrorCode, isImError } from '../common/errors.ts';
import { PduClient, type Received } from '../proto/client.ts';
import { Cid, encodeBody } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';
import { startAccessFixture } from './helpers/access-server.ts';
import { startTestDbProxy } from './helpers/db-proxy.ts';
import { FakeAccessServer, startTestRouteServer } from './helpers/route-server.ts';
import { createTestStorage, type TestStorage } from './helpers/storage.ts';

let storage: TestStorage;
before(async () => {
  storage = await createTestStorage();
  const now = Math.floor(Date.now() / 1000);
  await storage.pool.query('INSERT INTO IMUser (id, name, nick, password, salt, departId, status, sign_info, created, updated) VALUES ?', [
    [1, 2].map((id) => [id, `user${id}`, `nick${id}`, 'x', 'y', 1, 0, `sign of ${id}`, now, now]),
  ]);
});
after(() => storage.cleanup());

async function storedMessages(): Promise<number> {
  let n = 0;
  for (let i = 0; i < storage.shards; i++) {
    const [rows] = await storage.pool.query(`SELECT COUNT(*) AS n FROM IMMessage_${i}`);
    n += Number((rows as { n: number }[])[0]!.n);
  }
  return n;
}

/** Connects without a secret, sends `pdus`, and returns what came back before the server closed the link. */
async function asStranger(port: number, pdus: Uint8Array[]): Promise<{ got: Received[]; closedMs: number }> {
  const c = await PduClient.connect({ port, heartbeatIntervalMs: 0, requestTimeoutMs: 2000 });
  const got: Received[] = [];
  c.on('push', (r: Received) => got.push(r));
  const t0 = Date.now();
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  for (const p of pdus) c.sendRaw(p);
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('stranger still connected')), 3000))]);
  return { got, closedMs: Date.now() - t0 };
}

function pdu(commandId: number, body: Uint8Array, seqNum = 1): Uint8Array {
  return encodePdu({ commandId, seqNum }, body);
}

const MESSAGE = { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: Buffer.from('forged') };

test('db-proxy: a peer without the secret reads, writes and changes nothing', async (t) => {
  const fx = await startTestDbProxy({}, storage);
  t.after(() => fx.close());
  const port = fx.proxy.address.port;
  const before = await storedMessages();
  const hostile = [
    pdu(Cid.CID_OTHER_HEARTBEAT, new Uint8Array(0)),
    pdu(Cid.CID_MSG_DATA, encodeBody(Cid.CID_MSG_DATA, MESSAGE)),
    pdu(Cid.CID_MSG_LIST_REQUEST, encodeBody(Cid.CID_MSG_LIST_REQUEST, { userId: 1, sessionType: 1, sessionId: 2, msgIdBegin: 0, msgCnt: 10 })),
    pdu(Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, encodeBody(Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, { userId: 2, signInfo: 'owned' })),
  ];
  // Each command on its own connection, as the first frame, and all of them together.
  for (const p of [...hostile.map((h) => [h]), hostile]) {
    const { got, closedMs } = await asStranger(port, p);
    assert.deepEqual(got.map((r) => r.commandId), [Cid.CID_EXT_AUTH_RESULT], 'only a refusal comes back');
    assert.equal((got[0]!.message as { resultCode: number }).resultCode, 1);
    assert.ok(closedMs < 1000, `closed after ${closedMs} ms`);
  }
  // A peer with the wrong secret does not get past the handshake.
  await assert.rejects(PduClient.connect({ port, clusterSecret: 'not-the-cluster-secret' }), (e) => isImError(e, ErrorCode.AUTH_FAILED));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await storedMessages(), before, 'nothing stored');
  const [rows] = await storage.pool.query('SELECT sign_info FROM IMUser WHERE id = 2');
  assert.equal((rows as { sign_info: string }[])[0]!.sign_info, 'sign of 2', 'nothing changed');
  assert.equal(fx.proxy.server.stats.requests, 0, 'no request reached a handler');

  // With the secret, the same link works.
  const ok = await fx.connect();
  const ack = await ok.request(Cid.CID_MSG_DATA, MESSAGE, { expect: Cid.CID_MSG_DATA });
  assert.ok((ack.message as { msgId: number }).msgId > 0);
});

test('db-proxy: big or slow handshakes are dropped; handshakes per source and links are capped', async (t) => {
  const fx = await startTestDbProxy({ CLUSTER_HANDSHAKE_TIMEOUT_MS: '300', CLUSTER_MAX_PENDING_LINKS_PER_SOURCE: '3', DB_PROXY_MAX_LINKS: '2', DB_PROXY_HEARTBEAT_MS: '100' }, storage);
  t.after(() => fx.close());
  const port = fx.proxy.address.port;

  // A 1 MiB frame header before authentication: cut at the pre-auth cap.
  const big = Buffer.alloc(16);
  big.writeUInt32BE(1024 * 1024, 0);
  const { closedMs } = await asStranger(port, [big]);
  assert.ok(closedMs < 1000);

  // Idle connections: three are held (per-source cap), the fourth is closed at once; all go after the timeout.
  const idle = await Promise.all([0, 1, 2, 3].map(() => rawConnect(port)));
  const closedAt = idle.map((s) => new Promise<number>((resolve) => s.once('close', () => resolve(Date.now()))));
  const t0 = Date.now();
  const times = await Promise.all(closedAt);
  const early = times.filter((x) => x - t0 < 150).length;
  assert.equal(early, 1, `one closed at once (closed after ${times.map((x) => x - t0).join(', ')} ms)`);
  assert.ok(times.every((x) => x - t0 < 2000), 'the rest within the handshake timeout');

  // Two authenticated links fit; a third is refused after its handshake, with a reason.
  const a = await fx.connect();
  const b = await fx.connect();
  await assert.rejects(fx.connect(), (e) => isImError(e, ErrorCode.AUTH_FAILED) && /DB_PROXY_MAX_LINKS/.test(e.message));
  assert.equal(fx.proxy.server.stats.links, 2);
  for (const x of [a, b]) await x.request(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ, { userId: [1] });
});

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('error', reject);
    s.once('connect', () => resolve(s));
  });
}

test('db-proxy: a TeamTalk server (no handshake) is admitted only from a listed address', async (t) => {
  const listed = await startTestDbProxy({ DB_PROXY_TRUSTED_PEERS: '127.0.0.0/8' }, storage);
  t.after(() => listed.close());
  const teamtalk = await PduClient.connect({ port: listed.proxy.address.port, heartbeatIntervalMs: 0 });
  t.after(() => teamtalk.destroy());
  const r = await teamtalk.request(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ, { userId: [1] });
  assert.equal(r.commandId, Cid.CID_OTHER_GET_DEVICE_TOKEN_RSP);

  const unlisted = await startTestDbProxy({ DB_PROXY_TRUSTED_PEERS: '10.0.0.0/8' }, storage);
  t.after(() => unlisted.close());
  const { got } = await asStranger(unlisted.proxy.address.port, [pdu(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ, encodeBody(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ, { userId: [1] }))]);
  assert.deepEqual(got.map((x) => x.commandId), [Cid.CID_EXT_AUTH_RESULT]);
});

const ROUTE = { ROUTE_HEARTBEAT_MS: '200' };
const servInfo = (hostName: string): Uint8Array =>
  pdu(Cid.CID_OTHER_MSG_SERV_INFO, encodeBody(Cid.CID_OTHER_MSG_SERV_INFO, { ip1: '6.6.6.6', ip2: '6.6.6.6', port: 8000, maxConnCnt: 100000, curConnCnt: 0, hostName }), 0);

test('route-server: a peer without the secret registers nothing and claims no user', async (t) => {
  const route = await startTestRouteServer(ROUTE);
  t.after(() => route.close());
  const online = pdu(Cid.CID_OTHER_ONLINE_USER_INFO, encodeBody(Cid.CID_OTHER_ONLINE_USER_INFO, { userStatList: [{ userId: 9, status: 1, clientType: 1 }] }), 0);
  const { got } = await asStranger(route.address.port, [servInfo('evil'), online]);
  assert.deepEqual(got.map((x) => x.commandId), [Cid.CID_EXT_AUTH_RESULT]);
  assert.equal(route.presence.serverCount, 0);
  assert.equal(route.presence.isOnline(9), false);
  const res = await fetch(`http://127.0.0.1:${route.httpAddress.port}/msg_server`);
  assert.notEqual(((await res.json()) as { code: number }).code, 0, 'no access server offered');
});

test('route-server: presence before registration is ignored; an authenticated access server registers only its own id', async (t) => {
  const route = await startTestRouteServer(ROUTE);
  t.after(() => route.close());
  const early = await FakeAccessServer.connect(route);
  t.after(() => early.close());
  early.online([[5, 1]]);
  early.status(6, 1);
  await early.barrier();
  assert.equal(route.presence.isOnline(5) || route.presence.isOnline(6), false);
  assert.equal(route.server.stats.unregisteredReports, 2);

  const id = { role: 'access-server', name: 'as-1', instance: Buffer.from('instance-of-as-1') };
  const liar = await FakeAccessServer.connect(route, { identity: id });
  liar.register({ serverId: 'as-2' });
  await liar.closed();
  assert.equal(route.presence.linkOfServer('as-2'), undefined);
});

test('route-server: a live server id is not taken over by another process; a reconnect of the same process may', async (t) => {
  const route = await startTestRouteServer(ROUTE);
  t.after(() => route.close());
  const first = { role: 'access-server', name: 'as-1', instance: Buffer.from('first-process-01') };
  const a = await FakeAccessServer.connect(route, { identity: first, heartbeatIntervalMs: 50 });
  t.after(() => a.close());
  a.register({ serverId: 'as-1' });
  a.online([[3, 1]]);
  await a.barrier();

  // Another process claiming as-1 while the first is alive: refused and closed; the first keeps its users.
  const impostor = await FakeAccessServer.connect(route, { identity: { ...first, instance: Buffer.from('other-process-02') } });
  impostor.register({ serverId: 'as-1' });
  await impostor.closed();
  const refusal = impostor.pushes.find((p) => p.commandId === Cid.CID_EXT_AUTH_RESULT);
  assert.match((refusal?.message as { resultString: string }).resultString, /held by live link/);
  assert.equal(a.isClosed, false);
  assert.equal(route.presence.isOnline(3), true);
  assert.equal(route.server.stats.registrationsRefused, 1);

  // The same process reconnecting (its old link not yet noticed dead) takes over, and the old link is dropped.
  const again = await FakeAccessServer.connect(route, { identity: first });
  t.after(() => again.close());
  again.register({ serverId: 'as-1' });
  await again.barrier();
  await a.closed();
  assert.notEqual(route.presence.linkOfServer('as-1'), undefined, 'as-1 is registered, on the new link');
  assert.equal(again.isClosed, false);
  assert.equal(route.server.stats.registrationsRefused, 1);
});

test('an access server with another secret gets no db-proxy link, and says why', async (t) => {
  const fx = await startAccessFixture({ ACCESS_DB_START_WAIT_MS: '0' });
  t.after(() => fx.close());
  await assert.rejects(fx.startServer({ CLUSTER_SECRET: 'some-other-cluster-secret' }), (e) => isImError(e, ErrorCode.STORAGE));
  const good = await fx.startServer();
  assert.ok(good.db.usableCount > 0);
});

test('db-proxy: a TeamTalk server from a trusted address may stay idle past the handshake time; its first heartbeat admits it', async (t) => {
  const fx = await startTestDbProxy({ DB_PROXY_TRUSTED_PEERS: '127.0.0.1', CLUSTER_HANDSHAKE_TIMEOUT_MS: '200' }, storage);
  t.after(() => fx.close());
  // A msg_server's link to db-proxy says nothing until its first heartbeat, 5 s after connecting.
  const c = await PduClient.connect({ port: fx.proxy.address.port, heartbeatIntervalMs: 0, requestTimeoutMs: 2000 });
  t.after(() => c.destroy());
  let closed = false;
  c.once('close', () => (closed = true));
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(closed, false, 'not cut at the handshake deadline');
  c.sendRaw(pdu(Cid.CID_OTHER_HEARTBEAT, new Uint8Array(0)));
  const rsp = await c.request(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, { userId: 1, userIdList: [2] });
  assert.equal((rsp.message as { userInfoList: unknown[] }).userInfoList.length, 1);
});
