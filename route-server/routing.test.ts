import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Received } from '../proto/client.ts';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { FakeAccessServer, startTestRouteServer } from '../test/helpers/route-server.ts';

const PC = 0x01;
const IOS = 0x11;
const ANDROID = 0x12;

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function msgData(from: number, to: number, text: string, msgType = 1): IM.Message.IIMMsgData {
  return { fromUserId: from, toSessionId: to, msgId: 0, createTime: 1_700_000_000, msgType, msgData: Buffer.from(text) };
}

/** Sends a marker through `via` to `uid` and waits for it at `at`: whatever `via` sent before has reached `at` by then. */
async function marker(via: FakeAccessServer, at: FakeAccessServer, uid: number): Promise<Received[]> {
  const tag = Buffer.from(`marker-${uid}-${Date.now()}`);
  via.client.send(Cid.CID_EXT_ROUTE_TO_USERS, { userIds: [uid], commandId: Cid.CID_OTHER_HEARTBEAT, pduBody: tag });
  const hit = await at.waitFor((r) => r.commandId === Cid.CID_EXT_ROUTE_TO_USERS && Buffer.compare((r.message as { pduBody: Buffer }).pduBody, tag) === 0);
  at.pushes.splice(at.pushes.indexOf(hit), 1);
  return [...at.pushes];
}

test('registration and presence from ONLINE_USER_INFO, STATUS_UPDATE and CNT_UPDATE', async (t) => {
  const route = await startTestRouteServer();
  t.after(() => route.close());
  const a = await FakeAccessServer.start(route, { serverId: 'as-a', ip1: '10.0.0.1', ip2: '10.0.0.2', port: 8001, maxConnCnt: 50, curConnCnt: 2 }, [
    [1, PC],
    [2, IOS],
  ]);
  t.after(() => a.close());
  const linkId = route.presence.linkOfServer('as-a');
  assert.ok(linkId !== undefined);
  assert.deepEqual(route.presence.server(linkId), { serverId: 'as-a', ip1: '10.0.0.1', ip2: '10.0.0.2', port: 8001, maxConnCnt: 50, curConnCnt: 2 });
  assert.ok(route.presence.isOnline(1) && route.presence.isOnline(2));
  assert.deepEqual([...route.presence.clientTypes(2, linkId)], [[IOS, 1]]);

  a.status(3, 1, ANDROID);
  a.status(1, 2, PC);
  a.status(2, 1, IOS); // a second iOS connection (a kick in progress)
  a.status(2, 2, IOS);
  a.count(1);
  a.count(1);
  a.count(2);
  await a.barrier();
  assert.equal(route.presence.isOnline(1), false);
  assert.ok(route.presence.isOnline(2), 'one of two iOS connections left');
  assert.ok(route.presence.isOnline(3));
  assert.equal(route.presence.server(linkId)?.curConnCnt, 3);
  assert.equal(route.presence.userCount, 2);

  a.status(4, 1, PC);
  const rsp = await a.client.request(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 9, userIdList: [2, 3, 1, 4], attachData: Buffer.from([1, 2, 3]) });
  const body = rsp.message as { userId: number; userStatList: { userId: number; status: number }[]; attachData: Buffer };
  assert.equal(body.userId, 9);
  // TeamTalk's rule: online means a PC client is connected; users only on a phone (2, 3) are offline.
  assert.deepEqual(body.userStatList.map((s) => [s.userId, s.status]), [[2, 2], [3, 2], [1, 2], [4, 1]]);
  assert.deepEqual([...body.attachData], [1, 2, 3]);
});

test('a 1:1 CID_MSG_DATA reaches only the servers holding its receiver or sender, never the origin', async (t) => {
  const route = await startTestRouteServer();
  t.after(() => route.close());
  const a = await FakeAccessServer.start(route, { serverId: 'as-a' }, [[10, PC]]);
  const b = await FakeAccessServer.start(route, { serverId: 'as-b' }, [[20, PC]]);
  const c = await FakeAccessServer.start(route, { serverId: 'as-c' }, [[10, IOS]]);
  const d = await FakeAccessServer.start(route, { serverId: 'as-d' }, [[30, PC]]);
  t.after(() => Promise.all([a, b, c, d].map((f) => f.close())));

  a.client.send(Cid.CID_MSG_DATA, msgData(10, 20, 'hello'), 77);
  const sent = encodeBody(Cid.CID_MSG_DATA, msgData(10, 20, 'hello'));
  for (const at of [b, c]) {
    const got = await at.waitFor((r) => r.commandId === Cid.CID_MSG_DATA);
    assert.equal(got.header.seqNum, 77);
    assert.equal(got.header.serviceId, 3);
    assert.equal(Buffer.compare(Buffer.from(got.body), Buffer.from(sent)), 0, 'body unchanged');
  }
  assert.deepEqual(await marker(a, d, 30), [], 'a third server gets nothing');
  await a.barrier();
  assert.deepEqual(a.pushes, [], 'nothing back to the origin');

  const before = route.server.stats.unrouted;
  a.client.send(Cid.CID_MSG_DATA, msgData(11, 99, 'nobody online'));
  a.client.send(Cid.CID_MSG_DATA, msgData(30, 5, 'group, unwrapped', 0x11));
  await a.barrier();
  assert.equal(route.server.stats.unrouted, before + 2);
  assert.deepEqual(await marker(a, d, 30), [], 'an unwrapped group message goes nowhere');
  assert.equal(b.pushes.length, 1);
});

test('CID_EXT_ROUTE_TO_USERS reaches exactly the servers holding recipients, each with its own recipients', async (t) => {
  const route = await startTestRouteServer();
  t.after(() => route.close());
  const a = await FakeAccessServer.start(route, { serverId: 'as-a' }, [[1, PC]]);
  const b = await FakeAccessServer.start(route, { serverId: 'as-b' }, [[2, PC], [3, ANDROID]]);
  const c = await FakeAccessServer.start(route, { serverId: 'as-c' }, [[4, PC], [2, IOS]]);
  const d = await FakeAccessServer.start(route, { serverId: 'as-d' }, [[5, PC]]);
  t.after(() => Promise.all([a, b, c, d].map((f) => f.close())));

  const inner = encodeBody(Cid.CID_MSG_READ_NOTIFY, { userId: 1, sessionId: 7, msgId: 3, sessionType: 2 });
  a.client.send(Cid.CID_EXT_ROUTE_TO_USERS, { userIds: [1, 2, 3, 4, 2, 99], commandId: Cid.CID_MSG_READ_NOTIFY, pduBody: inner }, 5);
  const expected = new Map([[b, [2, 3]], [c, [2, 4]]]);
  for (const [at, users] of expected) {
    const got = await at.waitFor((r) => r.commandId === Cid.CID_EXT_ROUTE_TO_USERS);
    const m = got.message as { userIds: number[]; commandId: number; pduBody: Buffer; originServer: string };
    assert.deepEqual([...m.userIds].sort(), users);
    assert.equal(m.commandId, Cid.CID_MSG_READ_NOTIFY);
    assert.equal(m.originServer, 'as-a', 'origin filled in from the registration');
    assert.deepEqual(decodeBody(Cid.CID_MSG_READ_NOTIFY, m.pduBody), decodeBody(Cid.CID_MSG_READ_NOTIFY, inner));
  }
  assert.deepEqual(await marker(a, d, 5), []);
  await a.barrier();
  assert.deepEqual(a.pushes, [], 'the origin delivers to user 1 itself');
  assert.equal(b.pushes.length, 1);
  assert.equal(c.pushes.length, 1);
});

test('a kick goes only to the server it names', async (t) => {
  const route = await startTestRouteServer();
  t.after(() => route.close());
  const a = await FakeAccessServer.start(route, { serverId: 'as-a' }, [[1, PC]]);
  const b = await FakeAccessServer.start(route, { serverId: 'as-b' }, [[1, IOS]]);
  const c = await FakeAccessServer.start(route, { serverId: 'as-c' }, [[1, ANDROID], [6, PC]]);
  t.after(() => Promise.all([a, b, c].map((f) => f.close())));

  const kick = { userId: 1, clientType: IOS, serverId: 'as-b', connId: 42, reason: 1 };
  a.client.send(Cid.CID_EXT_KICK_CONN, kick);
  const got = await b.waitFor((r) => r.commandId === Cid.CID_EXT_KICK_CONN);
  assert.deepEqual({ ...(got.message as object) }, kick);
  assert.deepEqual(await marker(a, c, 6), []);
  await a.barrier();
  assert.deepEqual(a.pushes, []);

  const before = route.server.stats.unrouted;
  a.client.send(Cid.CID_EXT_KICK_CONN, { ...kick, serverId: 'as-gone' });
  await a.barrier();
  assert.equal(route.server.stats.unrouted, before + 1);
});

test("a server's users vanish with its link; a re-registration drops the stale link", async (t) => {
  const route = await startTestRouteServer();
  t.after(() => route.close());
  const a = await FakeAccessServer.start(route, { serverId: 'as-a' }, [[1, PC]]);
  const b = await FakeAccessServer.start(route, { serverId: 'as-b' }, [[2, PC], [3, PC]]);
  t.after(() => a.close());

  await b.close();
  await until(() => !route.presence.isOnline(2));
  assert.equal(route.presence.isOnline(3), false);
  assert.equal(route.presence.serverCount, 1);
  assert.equal(route.presence.linkOfServer('as-b'), undefined);

  // as-a reconnects before its old link timed out: the old link and what it reported go.
  const again = await FakeAccessServer.start(route, { serverId: 'as-a' }, [[4, PC]]);
  t.after(() => again.close());
  await a.closed();
  await until(() => !route.presence.isOnline(1));
  assert.ok(route.presence.isOnline(4));
  assert.equal(route.presence.serverCount, 1);
  await until(() => route.server.stats.links === 1);
  assert.ok(route.presence.linkOfServer('as-a') !== undefined);
});

test('right after start, a delivery to a server not re-registered yet is held and delivered once it registers', async (t) => {
  const route = await startTestRouteServer({ ROUTE_WARMUP_HOLD_MS: '3000' });
  t.after(() => route.close());
  const a = await FakeAccessServer.start(route, { serverId: 'as-a' }, [[1, PC]]);
  t.after(() => a.close());
  a.client.send(Cid.CID_MSG_DATA, msgData(1, 2, 'sent before b is back'));
  a.client.send(Cid.CID_EXT_ROUTE_TO_USERS, { userIds: [2], commandId: Cid.CID_MSG_READ_NOTIFY, pduBody: Buffer.from([8, 1]) });
  await a.barrier();
  assert.equal(route.server.held.size, 2);
  const b = await FakeAccessServer.start(route, { serverId: 'as-b' }, [[2, PC]]);
  t.after(() => b.close());
  const single = await b.waitFor((r) => r.commandId === Cid.CID_MSG_DATA);
  assert.equal(Buffer.from((single.message as IM.Message.IMMsgData).msgData).toString(), 'sent before b is back');
  await b.waitFor((r) => r.commandId === Cid.CID_EXT_ROUTE_TO_USERS);
  assert.equal(route.server.held.size, 0);
  assert.equal(route.server.stats.unrouted, 0);
});

test('status changes reach every server as TeamTalk\'s route_server sends them, the origin included', async (t) => {
  const route = await startTestRouteServer();
  t.after(() => route.close());
  const ours = (name: string) => ({ role: 'access-server', name, instance: Buffer.from(`instance-of-${name}`) });
  const a = await FakeAccessServer.start(route, { serverId: 'as-a' }, [], ours('as-a'));
  const b = await FakeAccessServer.start(route, { serverId: 'as-b' }, [], ours('as-b'));
  const tt = await FakeAccessServer.start(route, { serverId: 'tt-1' });
  t.after(() => Promise.all([a, b, tt].map((f) => f.close())));
  const all = [a, b, tt];
  /** What every server got since the last call (the same for each), as [command, uid, status]. */
  const take = async (): Promise<[string, number, number][]> => {
    for (const f of all) await f.barrier();
    const got = all.map((f) =>
      f.pushes.splice(0).map((r): [string, number, number] => {
        if (r.commandId === Cid.CID_BUDDY_LIST_STATUS_NOTIFY) {
          const m = decodeBody(Cid.CID_BUDDY_LIST_STATUS_NOTIFY, r.body);
          return ['status', m.userStat.userId, m.userStat.status];
        }
        assert.equal(r.commandId, Cid.CID_OTHER_LOGIN_STATUS_NOTIFY);
        const m = decodeBody(Cid.CID_OTHER_LOGIN_STATUS_NOTIFY, r.body);
        return ['pc-login', m.userId, m.loginStatus];
      }),
    );
    assert.deepEqual(got[1], got[0]);
    assert.deepEqual(got[2], got[0]);
    return got[0]!;
  };

  a.status(10, 1, PC);
  assert.deepEqual(await take(), [['pc-login', 10, 1], ['status', 10, 1]]);
  // A phone while the PC is on: its phones hear the PC is logged in; no status change.
  b.status(10, 1, IOS);
  assert.deepEqual(await take(), [['pc-login', 10, 1]]);
  tt.status(20, 1, ANDROID);
  assert.deepEqual(await take(), []);
  // A second PC, then the first goes: no offline while a PC is left (a PC moving to another server).
  b.status(10, 1, PC);
  a.status(10, 2, PC);
  assert.deepEqual(await take(), [['pc-login', 10, 1], ['status', 10, 1]]);
  b.status(10, 2, PC);
  assert.deepEqual(await take(), [['pc-login', 10, 0], ['status', 10, 2]]);
  // A phone going: nothing.
  b.status(10, 2, IOS);
  assert.deepEqual(await take(), []);
  assert.equal(route.presence.isOnline(10), false);
});
