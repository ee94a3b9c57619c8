import { authenticateSocket, PROCESS_INSTANCE } from '../common/cluster-auth.ts';
import { TEST_CLUSTER_SECRET } from '../test/helpers/db-proxy.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { Cid, encodeBody } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';
import { FakeAccessServer, startTestRouteServer } from '../test/helpers/route-server.ts';

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function header(length: number, commandId: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(length, 0);
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(commandId >> 8, 8);
  b.writeUInt16BE(commandId, 10);
  return b;
}

test('heartbeats when idle; a silent link is dropped with its users, a live one stays', async (t) => {
  const route = await startTestRouteServer({ ROUTE_HEARTBEAT_MS: '100', ROUTE_LINK_TIMEOUT_MS: '500' });
  t.after(() => route.close());
  const silent = await FakeAccessServer.start(route, { serverId: 'as-silent' }, [[1, 1]]);
  const live = await FakeAccessServer.connect(route, { heartbeatIntervalMs: 100 });
  live.register({ serverId: 'as-live' });
  live.online([[2, 1]]);
  await live.barrier();
  t.after(() => live.close());

  const started = Date.now();
  await silent.closed(2000);
  assert.ok(Date.now() - started >= 300, 'not dropped before the timeout');
  assert.ok(silent.heartbeats >= 2, 'route-server heartbeats an idle link');
  await until(() => !route.presence.isOnline(1));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(live.isClosed, false, 'a link that heartbeats stays open');
  assert.ok(route.presence.isOnline(2));
  assert.ok(live.heartbeats >= 2);
});

test('garbage or oversized frames close only that link; bad bodies and unknown commands do not', async (t) => {
  const route = await startTestRouteServer({ ROUTE_MAX_FRAME_BYTES: '4096' });
  t.after(() => route.close());
  const good = await FakeAccessServer.start(route, { serverId: 'as-good' }, [[1, 1]]);
  t.after(() => good.close());

  const tooShort = await FakeAccessServer.start(route, { serverId: 'as-short' }, [[2, 1]]);
  tooShort.client.sendRaw(header(5, Cid.CID_MSG_DATA));
  await tooShort.closed();
  const tooLong = await FakeAccessServer.start(route, { serverId: 'as-long' }, [[3, 1]]);
  tooLong.client.sendRaw(header(1_000_000, Cid.CID_MSG_DATA));
  await tooLong.closed();
  await until(() => !route.presence.isOnline(2) && !route.presence.isOnline(3));

  good.client.sendRaw(encodePdu({ commandId: Cid.CID_MSG_DATA }, Buffer.from([0xff, 0xff, 0xff])));
  good.client.sendRaw(encodePdu({ commandId: Cid.CID_EXT_KICK_CONN }, encodeBody(Cid.CID_OTHER_USER_CNT_UPDATE, { userAction: 1, userId: 1 })));
  good.client.sendRaw(encodePdu({ commandId: 0x0999 }, Buffer.from('who knows')));
  good.client.sendRaw(encodePdu({ commandId: Cid.CID_LOGIN_REQ_USERLOGIN }, Buffer.alloc(0)));
  await good.barrier();
  assert.equal(good.isClosed, false);
  assert.equal(route.server.stats.badBodies, 2);
  assert.equal(route.server.stats.unknownCommands, 2);
  assert.ok(route.presence.isOnline(1));
  assert.equal(route.server.stats.links, 1);
});

test('a peer that stops reading is dropped once its unsent bytes pass the bound', async (t) => {
  const route = await startTestRouteServer({ ROUTE_MAX_OUTBOUND_BYTES: '65536' });
  t.after(() => route.close());
  const sender = await FakeAccessServer.start(route, { serverId: 'as-sender' });
  t.after(() => sender.close());

  // A raw peer that registers user 7, then never reads again.
  const stuck = net.connect({ port: route.address.port, host: '127.0.0.1' });
  await once(stuck, 'connect');
  await authenticateSocket(stuck, Buffer.from(TEST_CLUSTER_SECRET), { role: 'tool', name: 'stuck', instance: PROCESS_INSTANCE });
  stuck.write(encodePdu({ commandId: Cid.CID_OTHER_MSG_SERV_INFO }, encodeBody(Cid.CID_OTHER_MSG_SERV_INFO, { ip1: 'x', ip2: 'x', port: 1, maxConnCnt: 1, curConnCnt: 0, hostName: 'as-stuck' })));
  stuck.write(encodePdu({ commandId: Cid.CID_OTHER_ONLINE_USER_INFO }, encodeBody(Cid.CID_OTHER_ONLINE_USER_INFO, { userStatList: [{ userId: 7, status: 1, clientType: 1 }] })));
  const closed = once(stuck, 'close');
  stuck.on('error', () => undefined);
  await until(() => route.presence.isOnline(7));

  const chunk = Buffer.alloc(60_000, 1);
  for (let i = 0; i < 400 && route.presence.isOnline(7); i++) {
    sender.client.send(Cid.CID_EXT_ROUTE_TO_USERS, { userIds: [7], commandId: Cid.CID_MSG_READ_NOTIFY, pduBody: chunk });
    if (i % 20 === 19) await sender.barrier();
  }
  await until(() => !route.presence.isOnline(7));
  stuck.resume();
  await closed;
  assert.equal(sender.isClosed, false, 'the sender is not punished');
});

test('close() ends every link and stops both listeners', async () => {
  const route = await startTestRouteServer();
  const a = await FakeAccessServer.start(route, { serverId: 'as-a' }, [[1, 1]]);
  await route.close();
  await a.closed();
  await assert.rejects(FakeAccessServer.connect(route));
  await assert.rejects(fetch(`http://127.0.0.1:${route.httpAddress.port}/healthz`));
});
