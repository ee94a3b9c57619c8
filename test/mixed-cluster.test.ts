/**
 * A cluster mixing a TeamTalk C++ msg_server with our access servers, through
 * our route-server. The msg_server is played byte for byte over a raw socket:
 * its PDUs are built here field by field (TeamTalk's 16-byte header, version
 * 1, the service id of each command), it never registers with the
 * route-server and knows none of our CID_EXT_* commands, as
 * server/src/msg_server/RouteServConn.cpp does. Its users are 5 (PC) and 6;
 * ours are 1 to 4 on access servers a and b.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid, decodeBody } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import type { RunningRouteServer } from '../route-server/route-server.ts';
import type { RunningAccessServer } from '../access-server/access-server.ts';
import { MOBILE, nextPush, PC, startAccessFixture, waitFor, whenClosed, type AccessFixture } from './helpers/access-server.ts';
import { startTestRouteServer } from './helpers/route-server.ts';
import { SID_BUDDY_LIST, SID_EXT, SID_MSG, SID_OTHER, teamTalkPdu, TeamTalkPeer, type Got } from './helpers/teamtalk.ts';

let fx: AccessFixture;
let route: RunningRouteServer;
let a: RunningAccessServer;
let b: RunningAccessServer;
let tt: TeamTalkPeer;

const GROUP = 800;

before(async () => {
  // TeamTalk's servers cannot authenticate: the route-server admits them by address.
  route = await startTestRouteServer({ ROUTE_TRUSTED_PEERS: '127.0.0.1' });
  fx = await startAccessFixture({ ROUTE_SERVERS: `127.0.0.1:${route.address.port}` });
  a = await fx.startServer({ ACCESS_SERVER_ID: 'access-a' });
  b = await fx.startServer({ ACCESS_SERVER_ID: 'access-b' });
  assert.ok(await a.route.whenConnected(3000));
  assert.ok(await b.route.whenConnected(3000));
  await fx.seedUsers(6);
  const pool = fx.dbProxy.storage.pool;
  const now = Math.floor(Date.now() / 1000);
  await pool.query('INSERT INTO IMGroup (id, name, creator, type, userCnt, status, version, created, updated) VALUES (?, ?, 1, 1, 3, 0, 1, ?, ?)', [GROUP, 'mixed', now, now]);
  await pool.query('INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ?', [[1, 2, 5].map((u) => [GROUP, u, 0, now, now])]);
  tt = await TeamTalkPeer.connect(route.address.port);
  // As a msg_server opens its link to a route_server: its online users first, then "you are my master".
  tt.send(SID_OTHER, Cid.CID_OTHER_ONLINE_USER_INFO, { userStatList: [{ userId: 5, status: 1, clientType: PC }] });
  tt.send(SID_OTHER, Cid.CID_OTHER_ROLE_SET, { master: 1 });
  await waitFor(() => route.presence.isOnline(5), 3000, 'the msg_server\'s user online at the route-server');
});
after(async () => {
  tt.close();
  await fx.close();
  await route.close();
});

function msgData(from: number, to: number, text: string, msgType: number, msgId = 0): IM.Message.IIMMsgData {
  return { fromUserId: from, toSessionId: to, msgId, createTime: Math.floor(Date.now() / 1000), msgType, msgData: Buffer.from(text) };
}

const bodyOf = <T>(cid: number, g: Got): T => decodeBody(cid, g.body) as T;

function kickFields(g: Got): number[] {
  const k = bodyOf<IM.Server.IMServerKickUser>(Cid.CID_OTHER_SERVER_KICK_USER, g);
  return [k.userId, k.clientType, k.reason];
}

test('the header is TeamTalk\'s, byte for byte', () => {
  const pdu = teamTalkPdu(SID_OTHER, Cid.CID_OTHER_ROLE_SET, Buffer.from([0x08, 0x01]), 7);
  assert.equal(pdu.toString('hex'), '00000012' + '0001' + '0000' + '0007' + '0707' + '0007' + '0000' + '0801');
});

test('status crosses both ways; users-status answers the msg_server with its seq and attach data', async () => {
  assert.equal(route.server.stats.classicLinks, 1);
  assert.equal(route.presence.serverCount, 2, 'a TeamTalk msg_server is not one of ours: never offered by GET /msg_server from this link');
  const alice = await fx.login(a, 1, PC);
  const online = await tt.next(Cid.CID_BUDDY_LIST_STATUS_NOTIFY, (x) => decodeBody(Cid.CID_BUDDY_LIST_STATUS_NOTIFY, x).userStat.userId === 1);
  assert.equal(online.serviceId, SID_BUDDY_LIST);
  assert.equal(bodyOf<IM.Buddy.IMUserStatNotify>(Cid.CID_BUDDY_LIST_STATUS_NOTIFY, online).userStat.status, 1);

  const notified = nextPush(alice, Cid.CID_BUDDY_LIST_STATUS_NOTIFY);
  tt.send(SID_OTHER, Cid.CID_OTHER_USER_STATUS_UPDATE, { userStatus: 1, userId: 6, clientType: PC });
  const stat = ((await notified).message as IM.Buddy.IMUserStatNotify).userStat;
  assert.deepEqual([stat.userId, stat.status], [6, 1]);

  const rsp = await alice.request(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 1, userIdList: [5, 6, 3] });
  assert.deepEqual((rsp.message as IM.Buddy.IMUsersStatRsp).userStatList.map((u) => [u.userId, u.status]), [[5, 1], [6, 1], [3, 2]]);

  const attachData = Buffer.from([1, 0, 0, 0, 9, 0, 0, 0, 0]);
  tt.send(SID_BUDDY_LIST, Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 5, userIdList: [1, 2], attachData }, 41);
  const answer = await tt.next(Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE);
  assert.equal(answer.seqNum, 41);
  const body = bodyOf<IM.Buddy.IMUsersStatRsp>(Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, answer);
  assert.deepEqual(body.userStatList.map((u) => [u.userId, u.status]), [[1, 1], [2, 2]]);
  assert.deepEqual(Buffer.from(body.attachData!), attachData);
});

test('1:1 both ways: bare CID_MSG_DATA', async () => {
  const alice = await fx.login(a, 1, PC);
  const res = await alice.request(Cid.CID_MSG_DATA, msgData(1, 5, 'to teamtalk', 0x01));
  const msgId = (res.message as IM.Message.IMMsgDataAck).msgId;
  const there = await tt.next(Cid.CID_MSG_DATA);
  assert.equal(there.serviceId, SID_MSG);
  const m = bodyOf<IM.Message.IMMsgData>(Cid.CID_MSG_DATA, there);
  assert.deepEqual([m.fromUserId, m.toSessionId, m.msgId, Buffer.from(m.msgData).toString()], [1, 5, msgId, 'to teamtalk']);

  const back = nextPush(alice, Cid.CID_MSG_DATA);
  tt.send(SID_MSG, Cid.CID_MSG_DATA, msgData(5, 1, 'from teamtalk', 0x01, 9001));
  const got = (await back).message as IM.Message.IMMsgData;
  assert.deepEqual([got.fromUserId, got.msgId, Buffer.from(got.msgData).toString()], [5, 9001, 'from teamtalk']);
});

test('groups both ways: a bare group CID_MSG_DATA, members looked up by each server', async () => {
  const alice = await fx.login(a, 1, PC);
  const bob = await fx.login(b, 2, PC);
  await waitFor(() => route.presence.isOnline(2), 3000, 'bob online');
  const atBob = nextPush(bob, Cid.CID_MSG_DATA);
  const res = await alice.request(Cid.CID_MSG_DATA, msgData(1, GROUP, 'hello group', 0x11));
  const msgId = (res.message as IM.Message.IMMsgDataAck).msgId;
  assert.equal(((await atBob).message as IM.Message.IMMsgData).msgId, msgId);
  const there = await tt.next(Cid.CID_MSG_DATA);
  const m = bodyOf<IM.Message.IMMsgData>(Cid.CID_MSG_DATA, there);
  assert.deepEqual([m.fromUserId, m.toSessionId, m.msgType, m.msgId], [1, GROUP, 0x11, msgId]);

  const toAlice = nextPush(alice, Cid.CID_MSG_DATA);
  const toBob = nextPush(bob, Cid.CID_MSG_DATA);
  tt.send(SID_MSG, Cid.CID_MSG_DATA, msgData(5, GROUP, 'teamtalk to group', 0x11, 9002));
  for (const p of [await toAlice, await toBob]) {
    const x = p.message as IM.Message.IMMsgData;
    assert.deepEqual([x.fromUserId, x.toSessionId, x.msgId, Buffer.from(x.msgData).toString()], [5, GROUP, 9002, 'teamtalk to group']);
  }
  // Sent once to each server, not back to the one it came from.
  await assert.rejects(tt.next(Cid.CID_MSG_DATA, () => true, 300));
});

test('kicks both ways: CID_OTHER_SERVER_KICK_USER', async () => {
  const pc = await fx.login(a, 3, PC);
  const phone = await fx.login(b, 3, MOBILE);
  await waitFor(() => [...route.presence.holders(3)].length === 2, 3000, 'user 3 on both servers');
  const kicked = nextPush(pc, Cid.CID_LOGIN_KICK_USER);
  const closed = whenClosed(pc);
  // User 3 logged in on the TeamTalk msg_server with a PC client: its PC session here ends, its phone stays.
  tt.send(SID_OTHER, Cid.CID_OTHER_SERVER_KICK_USER, { userId: 3, clientType: 0x02, reason: 1 });
  assert.equal(((await kicked).message as IM.Login.IMKickUser).kickReason, 1);
  await closed;
  await phone.request(Cid.CID_MSG_TIME_REQUEST, {});

  // User 6 is on the TeamTalk msg_server (a PC since the status test); logging in here kicks it there.
  tt.send(SID_OTHER, Cid.CID_OTHER_USER_STATUS_UPDATE, { userStatus: 1, userId: 6, clientType: PC });
  await waitFor(() => route.presence.isOnline(6), 3000, 'user 6 on the msg_server');
  await fx.login(b, 6, PC);
  const kick = await tt.next(Cid.CID_OTHER_SERVER_KICK_USER);
  assert.equal(kick.serviceId, SID_OTHER);
  assert.deepEqual(kickFields(kick), [6, PC, 1]);
  // A phone kicking its PC (CID_LOGIN_REQ_KICKPCCLIENT) reaches it as TeamTalk's KICK_REASON_MOBILE_KICK for a Mac.
  tt.send(SID_OTHER, Cid.CID_OTHER_USER_STATUS_UPDATE, { userStatus: 1, userId: 4, clientType: PC });
  await waitFor(() => route.presence.isOnline(4), 3000, 'user 4 on the msg_server');
  const mobile4 = await fx.login(a, 4, MOBILE);
  await tt.next(Cid.CID_OTHER_SERVER_KICK_USER, (x) => decodeBody(Cid.CID_OTHER_SERVER_KICK_USER, x).userId === 4);
  await mobile4.request(Cid.CID_LOGIN_REQ_KICKPCCLIENT, { userId: 4 });
  const byPhone = await tt.next(Cid.CID_OTHER_SERVER_KICK_USER, (x) => decodeBody(Cid.CID_OTHER_SERVER_KICK_USER, x).userId === 4);
  assert.deepEqual(kickFields(byPhone), [4, 0x02, 2]);
});

test('the other routed commands cross both ways, unwrapped; nothing of ours reaches the msg_server', async () => {
  const bob = await fx.login(b, 2, PC);
  const bobPhone = await fx.login(a, 2, MOBILE);
  await waitFor(() => [...route.presence.holders(2)].length === 2, 3000, 'user 2 on both servers');
  bob.send(Cid.CID_SWITCH_P2P_CMD, { fromUserId: 2, toUserId: 5, cmdMsgData: '{"cmd":"shake"}' });
  const p2p = await tt.next(Cid.CID_SWITCH_P2P_CMD);
  assert.equal(bodyOf<IM.SwitchService.IMP2PCmdMsg>(Cid.CID_SWITCH_P2P_CMD, p2p).cmdMsgData, '{"cmd":"shake"}');

  // User 2 read a conversation on a TeamTalk client: both of 2's sessions here learn of it.
  const atBob = nextPush(bob, Cid.CID_MSG_READ_NOTIFY);
  const atPhone = nextPush(bobPhone, Cid.CID_MSG_READ_NOTIFY);
  tt.send(SID_MSG, Cid.CID_MSG_READ_NOTIFY, { userId: 2, sessionId: 5, msgId: 9001, sessionType: 1 });
  for (const p of [await atBob, await atPhone]) assert.equal((p.message as IM.Message.IMMsgDataReadNotify).msgId, 9001);

  // A signature change goes to everyone, the msg_server it came from included (that is how TeamTalk's own users learn of it).
  const sign = nextPush(bob, Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY);
  tt.send(SID_BUDDY_LIST, Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, { changedUserId: 5, signInfo: 'busy' });
  assert.equal(((await sign).message as IM.Buddy.IMSignInfoChangedNotify).signInfo, 'busy');
  await tt.next(Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY);

  assert.deepEqual(tt.all.filter((g) => g.serviceId === SID_EXT || g.commandId >> 8 === SID_EXT), [], 'no CID_EXT_* to a TeamTalk msg_server');
  assert.equal(route.server.stats.unknownCommands, 0, 'every command the msg_server sent is one the route-server serves');
  assert.equal(route.server.stats.badBodies, 0);
});
