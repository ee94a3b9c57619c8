/**
 * Our access servers under TeamTalk's own route_server and login_server
 * (ACCESS_ROUTE_PROTOCOL=teamtalk, LOGIN_SERVERS), both played byte for byte
 * (helpers/teamtalk.ts): the access servers send only what TeamTalk's
 * route_server serves (server/src/route_server/RouteConn.cpp), register with
 * the login_server as a msg_server does, and take what the route_server
 * passes on from other msg_servers. The route_server here forwards what the
 * test tells it to, as TeamTalk's broadcasts to every other msg_server.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid, decodeBody } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import type { RunningAccessServer } from '../access-server/access-server.ts';
import { MOBILE, nextPush, PC, startAccessFixture, waitFor, whenClosed, type AccessFixture } from './helpers/access-server.ts';
import { SID_BUDDY_LIST, SID_EXT, SID_OTHER, TeamTalkListener, type Got, type TeamTalkPeer } from './helpers/teamtalk.ts';
import { TEAMTALK_ROUTE_SERVER_COMMANDS } from '../proto/teamtalk-route.ts';

const GROUP = 810;
let fx: AccessFixture;
let routeServer: TeamTalkListener;
let loginServer: TeamTalkListener;
let a: RunningAccessServer;
let b: RunningAccessServer;
/** The route_server's ends of a's and b's links. */
let atA: TeamTalkPeer;
let atB: TeamTalkPeer;

before(async () => {
  routeServer = await TeamTalkListener.start();
  loginServer = await TeamTalkListener.start();
  // The fixture sets CLUSTER_SECRET: links to TeamTalk's servers go without a handshake all the same.
  fx = await startAccessFixture({
    ROUTE_SERVERS: `127.0.0.1:${routeServer.port}`,
    ACCESS_ROUTE_PROTOCOL: 'teamtalk',
    LOGIN_SERVERS: `127.0.0.1:${loginServer.port}`,
  });
  a = await fx.startServer({ ACCESS_SERVER_ID: 'tt-a' });
  [atA] = await routeServer.linked(1);
  b = await fx.startServer({ ACCESS_SERVER_ID: 'tt-b' });
  [, atB] = await routeServer.linked(2);
  assert.ok(await a.route.whenConnected(3000));
  assert.ok(await b.route.whenConnected(3000));
  await fx.seedUsers(4);
  const pool = fx.dbProxy.storage.pool;
  const now = Math.floor(Date.now() / 1000);
  await pool.query('INSERT INTO IMGroup (id, name, creator, type, userCnt, status, version, created, updated) VALUES (?, ?, 1, 1, 2, 0, 1, ?, ?)', [GROUP, 'tt', now, now]);
  await pool.query('INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ?', [[1, 2].map((u) => [GROUP, u, 0, now, now])]);
});
after(async () => {
  await fx.close();
  await routeServer.close();
  await loginServer.close();
});

const bodyOf = <T>(cid: number, g: Got): T => decodeBody(cid, g.body) as T;

function msgData(from: number, to: number, text: string, msgType: number): IM.Message.IIMMsgData {
  return { fromUserId: from, toSessionId: to, msgId: 0, createTime: Math.floor(Date.now() / 1000), msgType, msgData: Buffer.from(text) };
}

test('a link opens as a msg_server\'s does: online users, then the role; no handshake, no registration', () => {
  for (const peer of [atA, atB]) {
    assert.deepEqual(peer.all.slice(0, 2).map((g) => g.commandId), [Cid.CID_OTHER_ONLINE_USER_INFO, Cid.CID_OTHER_ROLE_SET]);
    assert.equal(bodyOf<IM.Server.IMRoleSet>(Cid.CID_OTHER_ROLE_SET, peer.all[1]!).master, 1);
  }
});

test('registered with the login_server: server info, then a count per connection', async () => {
  const [la, lb] = await loginServer.linked(2);
  const infos = [await la!.next(Cid.CID_OTHER_MSG_SERV_INFO), await lb!.next(Cid.CID_OTHER_MSG_SERV_INFO)].map((g) =>
    bodyOf<IM.Server.IMMsgServInfo>(Cid.CID_OTHER_MSG_SERV_INFO, g),
  );
  assert.deepEqual(infos.map((i) => [i.hostName, i.port]).sort(), [['tt-a', a.address.port], ['tt-b', b.address.port]]);
  const c = await fx.connect(a);
  const peerOfA = infos[0]!.hostName === 'tt-a' ? la! : lb!;
  const cnt = await peerOfA.next(Cid.CID_OTHER_USER_CNT_UPDATE);
  assert.equal(cnt.serviceId, SID_OTHER);
  assert.equal(bodyOf<IM.Server.IMUserCntUpdate>(Cid.CID_OTHER_USER_CNT_UPDATE, cnt).userAction, 1);
  c.destroy();
  await peerOfA.next(Cid.CID_OTHER_USER_CNT_UPDATE, (x) => decodeBody(Cid.CID_OTHER_USER_CNT_UPDATE, x).userAction === 2);
});

test('a login: its status, and CID_OTHER_SERVER_KICK_USER for the msg_servers; a kick from one ends the session here', async () => {
  const alice = await fx.login(a, 1, PC);
  const status = bodyOf<IM.Server.IMUserStatusUpdate>(Cid.CID_OTHER_USER_STATUS_UPDATE, await atA.next(Cid.CID_OTHER_USER_STATUS_UPDATE));
  assert.deepEqual([status.userId, status.userStatus, status.clientType], [1, 1, PC]);
  const kick = bodyOf<IM.Server.IMServerKickUser>(Cid.CID_OTHER_SERVER_KICK_USER, await atA.next(Cid.CID_OTHER_SERVER_KICK_USER));
  assert.deepEqual([kick.userId, kick.clientType, kick.reason], [1, PC, 1]);

  // The same user logs in on b: b's kick, passed to a by the route_server, ends alice's session on a.
  const kicked = nextPush(alice, Cid.CID_LOGIN_KICK_USER);
  const closed = whenClosed(alice);
  const again = await fx.login(b, 1, PC);
  atA.forward(await atB.next(Cid.CID_OTHER_SERVER_KICK_USER));
  assert.equal(((await kicked).message as IM.Login.IMKickUser).kickReason, 1);
  await closed;
  await again.request(Cid.CID_MSG_TIME_REQUEST, {});
});

test('messages go bare and come back bare: 1:1 and group (members looked up here), read notifies', async () => {
  const alice = await fx.login(a, 1, PC);
  const bob = await fx.login(b, 2, PC);
  const res = await alice.request(Cid.CID_MSG_DATA, msgData(1, 2, 'one to one', 0x01));
  const msgId = (res.message as IM.Message.IMMsgDataAck).msgId;
  const toBob = nextPush(bob, Cid.CID_MSG_DATA);
  const single = await atA.next(Cid.CID_MSG_DATA);
  atB.forward(single);
  assert.equal(((await toBob).message as IM.Message.IMMsgData).msgId, msgId);

  const res2 = await alice.request(Cid.CID_MSG_DATA, msgData(1, GROUP, 'to the group', 0x11));
  const groupId = (res2.message as IM.Message.IMMsgDataAck).msgId;
  const group = await atA.next(Cid.CID_MSG_DATA);
  const m = bodyOf<IM.Message.IMMsgData>(Cid.CID_MSG_DATA, group);
  assert.deepEqual([m.toSessionId, m.msgType, m.msgId], [GROUP, 0x11, groupId]);
  const toBob2 = nextPush(bob, Cid.CID_MSG_DATA);
  atB.forward(group);
  assert.equal(((await toBob2).message as IM.Message.IMMsgData).msgId, groupId);

  alice.send(Cid.CID_MSG_READ_ACK, { userId: 1, sessionId: 2, msgId, sessionType: 1 });
  const read = bodyOf<IM.Message.IMMsgDataReadNotify>(Cid.CID_MSG_READ_NOTIFY, await atA.next(Cid.CID_MSG_READ_NOTIFY));
  assert.deepEqual([read.userId, read.sessionId, read.msgId], [1, 2, msgId]);
});

test('a signature change reaches every user once: the route_server passes it back to its sender too, as TeamTalk\'s does', async () => {
  const dora = await fx.login(a, 4, PC);
  const doraPhone = await fx.login(a, 4, MOBILE);
  const carol = await fx.login(a, 3, PC);
  const bob = await fx.login(b, 2, PC);
  const watched = [doraPhone, carol, bob];
  const counts = watched.map(() => 0);
  watched.forEach((c, i) => c.on('push', (r: { commandId: number }) => {
    if (r.commandId === Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY) counts[i]!++;
  }));
  const res = await dora.request(Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, { userId: 4, signInfo: 'on the road' });
  assert.equal((res.message as IM.Buddy.IMChangeSignInfoRsp).resultCode, 0);
  const notify = await atA.next(Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY);
  assert.deepEqual(
    [bodyOf<IM.Buddy.IMSignInfoChangedNotify>(Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, notify).changedUserId, notify.serviceId],
    [4, SID_BUDDY_LIST],
  );
  atA.forward(notify);
  atB.forward(notify);
  await waitFor(() => counts.every((n) => n >= 1), 3000, 'every user told');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(counts, [1, 1, 1]);
});

test('users status is asked of the route_server and its answer (same seq) reaches the client', async () => {
  const alice = await fx.login(a, 3, PC);
  const asked = alice.request(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 3, userIdList: [4] });
  const req = await atA.next(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST);
  const q = bodyOf<IM.Buddy.IMUsersStatReq>(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, req);
  atA.send(0x02, Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, { userId: q.userId, userStatList: [{ userId: 4, status: 1 }], attachData: q.attachData }, req.seqNum);
  const got = (await asked).message as IM.Buddy.IMUsersStatRsp;
  assert.deepEqual(got.userStatList.map((u) => [u.userId, u.status]), [[4, 1]]);
});

test('nothing but what TeamTalk\'s route_server serves was sent to it', async () => {
  await waitFor(() => atA.all.length > 0 && atB.all.length > 0);
  for (const g of [...atA.all, ...atB.all]) {
    assert.notEqual(g.serviceId, SID_EXT, `0x${g.commandId.toString(16)}`);
    assert.ok(TEAMTALK_ROUTE_SERVER_COMMANDS.has(g.commandId), `0x${g.commandId.toString(16)} is not a command TeamTalk's route_server serves`);
  }
});
