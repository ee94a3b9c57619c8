import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import { Cid, encodeBody } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';
import { FakeAccessServer, startTestRouteServer } from '../test/helpers/route-server.ts';
import { loadConfig } from './config.ts';
import { TEST_CLUSTER_SECRET } from '../test/helpers/db-proxy.ts';
import { RouteLinks } from './route-links.ts';
import { TeamTalkListener } from '../test/helpers/teamtalk.ts';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('deliveries no route-server takes are kept and sent, in order, within ~1 s of one listening', async (t) => {
  const port = await freePort();
  const config = loadConfig({ ROUTE_SERVERS: `127.0.0.1:${port}`, ACCESS_SERVER_ID: 'as-a', CLUSTER_SECRET: TEST_CLUSTER_SECRET });
  const links = new RouteLinks(config, { servInfo: () => ({ ip1: 'x', ip2: 'x', port: 1, maxConnCnt: 10, curConnCnt: 0, hostName: 'as-a' }), onlineUsers: () => [] }, () => {}, pino({ level: 'silent' }));
  t.after(() => links.close());
  const texts = ['one', 'two', 'three'];
  for (const text of texts) {
    const body = encodeBody(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 1, createTime: 1, msgType: 1, msgData: Buffer.from(text) });
    assert.equal(links.sendByKey('1:2', Cid.CID_MSG_DATA, encodePdu({ commandId: Cid.CID_MSG_DATA }, body)), true);
  }
  assert.equal(links.backlogSize, 3);
  await new Promise((r) => setTimeout(r, 1500)); // the route layer stays down a while: backoff grows to its cap
  const route = await startTestRouteServer({ ROUTE_SERVER_PORT: String(port), ROUTE_WARMUP_HOLD_MS: '3000' });
  t.after(() => route.close());
  const listeningAt = Date.now();
  const b = await FakeAccessServer.start(route, { serverId: 'as-b' }, [[2, 1]]);
  t.after(() => b.close());
  const got: string[] = [];
  while (got.length < 3) {
    const r = await b.waitFor((p) => p.commandId === Cid.CID_MSG_DATA);
    b.pushes.splice(b.pushes.indexOf(r), 1);
    got.push(Buffer.from((r.message as { msgData: Uint8Array }).msgData).toString());
  }
  assert.deepEqual(got, texts);
  assert.ok(Date.now() - listeningAt < 1500, `delivered ${Date.now() - listeningAt} ms after the route-server listened`);
  assert.equal(links.backlogSize, 0);
});

/** A relay in front of a route-server that can swallow what the access server writes (a route-server dying with it unread) and cut. */
async function startSwallowingRelay(targetPort: number): Promise<{ port: number; swallow: () => void; cut: () => void; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let swallowing = false;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (d) => {
      if (!swallowing) upstream.write(d);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cut = (): void => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    swallow: () => (swallowing = true),
    cut,
    close: async () => {
      cut();
      await new Promise((r) => server.close(r));
    },
  };
}

test('deliveries a route-server took but never passed on (it died with them) go on through the other route-server, in order', async (t) => {
  const route1 = await startTestRouteServer({ ROUTE_WARMUP_HOLD_MS: '0' });
  t.after(() => route1.close());
  const route2 = await startTestRouteServer({ ROUTE_WARMUP_HOLD_MS: '0' });
  t.after(() => route2.close());
  const relay = await startSwallowingRelay(route1.address.port);
  t.after(() => relay.close());
  const b1 = await FakeAccessServer.start(route1, { serverId: 'as-b' }, [[2, 1]]);
  t.after(() => b1.close());
  const b2 = await FakeAccessServer.start(route2, { serverId: 'as-b' }, [[2, 1]]);
  t.after(() => b2.close());
  const config = loadConfig({ ROUTE_SERVERS: `127.0.0.1:${relay.port},127.0.0.1:${route2.address.port}`, ACCESS_SERVER_ID: 'as-a', CLUSTER_SECRET: TEST_CLUSTER_SECRET });
  const links = new RouteLinks(config, { servInfo: () => ({ ip1: 'x', ip2: 'x', port: 1, maxConnCnt: 10, curConnCnt: 0, hostName: 'as-a' }), onlineUsers: () => [] }, () => {}, pino({ level: 'silent' }));
  t.after(() => links.close());
  assert.equal(await links.whenConnected(3000), true);
  const msg = (text: string): Uint8Array =>
    encodePdu({ commandId: Cid.CID_MSG_DATA }, encodeBody(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 1, createTime: 1, msgType: 1, msgData: Buffer.from(text) }));
  const text = (r: { message: unknown }): string => Buffer.from((r.message as { msgData: Uint8Array }).msgData).toString();
  // A conversation whose deliveries go through route-server 1 (the relay), acked there.
  let key = '';
  for (let i = 0; i < 50 && key === ''; i++) {
    links.sendByKey(`k${i}`, Cid.CID_MSG_DATA, msg(`probe ${i}`));
    const r = await Promise.race([b1.waitFor((p) => text(p) === `probe ${i}`, 300).then(() => true), b2.waitFor((p) => text(p) === `probe ${i}`, 300).then(() => false)]);
    if (r) key = `k${i}`;
  }
  assert.notEqual(key, '', 'some key goes through route-server 1');
  const deadline = Date.now() + 2000;
  while (links.unackedSize > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(links.unackedSize, 0, 'probes acked');
  assert.ok(links.stats.acked > 0);

  relay.swallow();
  const texts = ['one', 'two', 'three', 'four'];
  for (const x of texts) assert.equal(links.sendByKey(key, Cid.CID_MSG_DATA, msg(x)), true);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(links.unackedSize, texts.length, 'written, not acked');
  assert.equal(b1.pushes.some((p) => texts.includes(text(p))), false);
  relay.cut(); // route-server 1 "dies" with them
  const got: string[] = [];
  while (got.length < texts.length) {
    const r = await b2.waitFor((p) => texts.includes(text(p)) && !got.includes(text(p)), 2000);
    got.push(text(r));
  }
  assert.deepEqual(got, texts, 'handed on in order');
  assert.equal(links.stats.resent, texts.length);
});

test('a peer that never answers the route announcement (TeamTalk\'s login_server listed by mistake) is sent no delivery: it stays kept', async (t) => {
  const login = await TeamTalkListener.start();
  t.after(() => login.close());
  const config = loadConfig({ ROUTE_SERVERS: `127.0.0.1:${login.port}`, ACCESS_SERVER_ID: 'as-a' });
  const links = new RouteLinks(config, { servInfo: () => ({ ip1: 'x', ip2: 'x', port: 1, maxConnCnt: 10, curConnCnt: 0, hostName: 'as-a' }), onlineUsers: () => [] }, () => {}, pino({ level: 'silent' }));
  t.after(() => links.close());
  const [peer] = await login.linked(1);
  await peer!.next(Cid.CID_EXT_ROUTE_ACK);
  const body = encodeBody(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 1, createTime: 1, msgType: 1, msgData: Buffer.from('x') });
  assert.equal(links.sendByKey('1:2', Cid.CID_MSG_DATA, encodePdu({ commandId: Cid.CID_MSG_DATA }, body)), true);
  await new Promise((r) => setTimeout(r, 1300)); // past the announcement wait
  assert.equal(links.usableCount, 0);
  assert.equal(links.backlogSize, 1);
  assert.deepEqual(peer!.all.map((g) => g.commandId), [Cid.CID_OTHER_MSG_SERV_INFO, Cid.CID_OTHER_ONLINE_USER_INFO, Cid.CID_EXT_ROUTE_ACK]);
});
