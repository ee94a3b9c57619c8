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
    assert.equal(links.sendByKey('1:2', encodePdu({ commandId: Cid.CID_MSG_DATA }, body)), true);
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
