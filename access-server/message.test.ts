import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import type { RunningAccessServer } from './access-server.ts';
import type { PduClient, Received } from '../proto/client.ts';
import { collectPushes, MOBILE, nextPush, PC, startAccessFixture, waitFor, whenClosed, type AccessFixture } from '../test/helpers/access-server.ts';

let fx: AccessFixture;
let server: RunningAccessServer;

before(async () => {
  fx = await startAccessFixture();
  server = await fx.startServer({ ACCESS_HTTP_PORT: '0' });
  await fx.seedUsers(24);
});
after(() => fx.close());

function text(from: number, to: number, s: string, msgType = 1): IM.Message.IIMMsgData {
  return { fromUserId: from, toSessionId: to, msgId: 0, createTime: 0, msgType, msgData: Buffer.from(s) };
}

/** Message acks the client got on seqs it sent without waiting (they surface as pushes). */
function unclaimedAcks(c: PduClient): Received[] {
  const got: Received[] = [];
  c.on('push', (r: Received) => void (r.commandId === Cid.CID_MSG_DATA_ACK && got.push(r)));
  return got;
}

/** A heartbeat's echo: it follows every answer the server wrote before it on this connection. */
const echo = (c: PduClient): Promise<Received> => c.request(Cid.CID_OTHER_HEARTBEAT, {}, { expect: Cid.CID_OTHER_HEARTBEAT });

async function metric(name: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(body)?.[1]);
}

test('1:1: ack on the same seq with the msg id; receiver and the sender\'s other device get it, the sending connection does not', async () => {
  const alice = await fx.login(server, 1, PC);
  const aliceMobile = await fx.login(server, 1, MOBILE);
  const bob = await fx.login(server, 2, PC);
  const atBob = nextPush(bob, Cid.CID_MSG_DATA);
  const atMobile = nextPush(aliceMobile, Cid.CID_MSG_DATA);
  let echoed = false;
  alice.on('push', (r) => (echoed ||= r.commandId === Cid.CID_MSG_DATA));
  // from_user_id is forced to the session's user
  const res = await alice.request(Cid.CID_MSG_DATA, text(999, 2, 'hello'));
  assert.equal(res.commandId, Cid.CID_MSG_DATA_ACK);
  const ack = res.message as IM.Message.IMMsgDataAck;
  assert.ok(ack.msgId > 0);
  assert.deepEqual({ userId: ack.userId, sessionId: ack.sessionId, sessionType: ack.sessionType }, { userId: 1, sessionId: 2, sessionType: 1 });
  for (const got of [await atBob, await atMobile]) {
    const m = got.message as IM.Message.IMMsgData;
    assert.equal(got.header.seqNum, 0);
    assert.equal(m.msgId, ack.msgId);
    assert.equal(m.fromUserId, 1);
    assert.ok(m.createTime > 0);
    assert.equal(Buffer.from(m.msgData).toString(), 'hello');
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(echoed, false);
});

test('20 messages sent without waiting get increasing ids and arrive in order', async () => {
  const a = await fx.login(server, 3, PC);
  const b = await fx.login(server, 4, PC);
  const pushes = collectPushes(b, Cid.CID_MSG_DATA, 20, 5000);
  const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => a.request(Cid.CID_MSG_DATA, text(3, 4, `m${i}`))));
  const ids = acks.map((r) => (r.message as IM.Message.IMMsgDataAck).msgId);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ack ids in send order: ${ids.join(',')}`);
  const got = (await pushes).map((r) => r.message as IM.Message.IMMsgData);
  assert.deepEqual(got.map((m) => m.msgId), ids);
  assert.deepEqual(got.map((m) => Buffer.from(m.msgData).toString()), ids.map((_, i) => `m${i}`));
});

test('an offline receiver gets nothing pushed, but the message counts as unread', async () => {
  const a = await fx.login(server, 5, PC);
  const res = await a.request(Cid.CID_MSG_DATA, text(5, 6, 'while you were out'));
  assert.ok((res.message as IM.Message.IMMsgDataAck).msgId > 0);
  const db = await fx.dbProxy.connect();
  const unread = await db.request(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: 6 });
  const body = unread.message as IM.Message.IMUnreadMsgCntRsp;
  assert.equal(body.totalCnt, 1);
  assert.equal(body.unreadinfoList[0]!.sessionId, 5);
});

test('a read ack clears unread and notifies the user\'s other devices', async () => {
  const a = await fx.login(server, 7, PC);
  await a.request(Cid.CID_MSG_DATA, text(7, 8, 'read me'));
  const bPc = await fx.login(server, 8, PC);
  const bMobile = await fx.login(server, 8, MOBILE);
  const notified = nextPush(bMobile, Cid.CID_MSG_READ_NOTIFY);
  bPc.send(Cid.CID_MSG_READ_ACK, { userId: 8, sessionId: 7, msgId: 1, sessionType: 1 });
  const n = (await notified).message as IM.Message.IMMsgDataReadNotify;
  assert.deepEqual({ userId: n.userId, sessionId: n.sessionId, msgId: n.msgId }, { userId: 8, sessionId: 7, msgId: 1 });
  const db = await fx.dbProxy.connect();
  const unread = await db.request(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: 8 });
  assert.equal((unread.message as IM.Message.IMUnreadMsgCntRsp).totalCnt, 0);
});

test('a "refusal-ack" client: empty messages and messages to oneself are answered with msg id 0, counted as answered', async () => {
  const answered = await metric('access_messages_refused_answered_total');
  const a = await fx.login(server, 9, PC);
  const empty = await a.request(Cid.CID_MSG_DATA, text(9, 10, ''));
  assert.equal((empty.message as IM.Message.IMMsgDataAck).msgId, 0);
  const self = await a.request(Cid.CID_MSG_DATA, text(9, 9, 'me'));
  assert.equal((self.message as IM.Message.IMMsgDataAck).msgId, 0);
  assert.equal(await metric('access_messages_refused_answered_total'), answered + 2);
});

test('a TeamTalk client (no capabilities) gets no ack for a message that is not stored; /metrics counts it', async () => {
  const unanswered = await metric('access_messages_refused_unanswered_total');
  const answered = await metric('access_messages_refused_answered_total');
  const stats = server.context.messageStats;
  const before = stats.refusedUnanswered;
  const c = await fx.login(server, 17, PC, { caps: [] });
  const stray = unclaimedAcks(c);
  c.send(Cid.CID_MSG_DATA, text(17, 18, ''), 900); // refused here
  c.send(Cid.CID_MSG_DATA, text(17, 17, 'me'), 901); // refused here
  c.send(Cid.CID_MSG_DATA, text(17, 777, 'no such group', 0x11), 902); // db-proxy: not a member
  const stored = await c.request(Cid.CID_MSG_DATA, text(17, 18, 'stored'));
  assert.ok((stored.message as IM.Message.IMMsgDataAck).msgId > 0, 'a stored message is acked as always');
  await waitFor(() => stats.refusedUnanswered === before + 3, 3000, 'three refusals counted');
  await echo(c);
  assert.deepEqual(stray.map((r) => r.header.seqNum), [], 'no ack for any of them');
  assert.equal(await metric('access_messages_refused_unanswered_total'), unanswered + 3);
  assert.equal(await metric('access_messages_refused_answered_total'), answered);
});

test('capabilities: only known ones are accepted, each once; a later request replaces the set', async () => {
  const c = await fx.login(server, 19, PC, { caps: [] });
  const caps = async (asked: string[]): Promise<string[]> =>
    ((await c.request(Cid.CID_EXT_CLIENT_CAPS_REQ, { caps: asked })).message as IM.Ext.IMClientCapsRsp).caps;
  assert.deepEqual(await caps(['x-unknown', 'refusal-ack', '', 'refusal-ack', 'REFUSAL-ACK']), ['refusal-ack']);
  const refused = await c.request(Cid.CID_MSG_DATA, text(19, 20, ''));
  assert.equal((refused.message as IM.Message.IMMsgDataAck).msgId, 0, 'now answered');
  assert.deepEqual(await caps(['x-unknown']), []);
  const stray = unclaimedAcks(c);
  c.send(Cid.CID_MSG_DATA, text(19, 20, ''), 903);
  await echo(c);
  assert.deepEqual(stray, [], 'back to TeamTalk\'s silence');
});

test('capabilities before login are refused like any other command: the connection is closed', async () => {
  const c = await fx.connect(server);
  const closed = whenClosed(c);
  c.send(Cid.CID_EXT_CLIENT_CAPS_REQ, { caps: ['refusal-ack'] }, 1);
  await closed;
});

test('over the message rate, messages are answered with msg id 0 ("refusal-ack"), or not at all (TeamTalk client)', async () => {
  const limited = await fx.startServer({ ACCESS_MSG_RATE_PER_SEC: '5', ACCESS_MSG_BURST: '5' });
  const a = await fx.login(limited, 11, PC);
  const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => a.request(Cid.CID_MSG_DATA, text(11, 12, `r${i}`))));
  const ids = acks.map((r) => (r.message as IM.Message.IMMsgDataAck).msgId);
  assert.equal(ids.filter((id) => id > 0).length, 5);
  assert.equal(ids.filter((id) => id === 0).length, 5);
  const classic = await fx.login(limited, 21, PC, { caps: [] });
  const got = unclaimedAcks(classic);
  for (let i = 0; i < 10; i++) classic.send(Cid.CID_MSG_DATA, text(21, 22, `c${i}`), 1000 + i);
  await echo(classic); // the refusals are decided before the echo, the stored ones answered after db-proxy
  await waitFor(() => got.length === 5, 3000, 'five acks');
  assert.ok(got.every((r) => (r.message as IM.Message.IMMsgDataAck).msgId > 0), 'only stored messages are acked');
  assert.deepEqual(limited.context.messageStats, { refusedAnswered: 5, refusedUnanswered: 5, outcomeUnknown: 0 });
});

test('a group message reaches every online member once, not the sending connection', async () => {
  const pool = fx.dbProxy.storage.pool;
  const now = Math.floor(Date.now() / 1000);
  await pool.query('INSERT INTO IMGroup (id, name, creator, type, userCnt, status, version, created, updated) VALUES (?, ?, ?, 1, 3, 0, 1, ?, ?)', [500, 'g', 13, now, now]);
  await pool.query('INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ?', [[13, 14, 15].map((u) => [500, u, 0, now, now])]);
  const a = await fx.login(server, 13, PC);
  const aMobile = await fx.login(server, 13, MOBILE);
  const b = await fx.login(server, 14, PC);
  const outsider = await fx.login(server, 16, PC);
  let leaked = false;
  outsider.on('push', (r) => (leaked ||= r.commandId === Cid.CID_MSG_DATA));
  const atB = collectPushes(b, Cid.CID_MSG_DATA, 3);
  const atMobile = collectPushes(aMobile, Cid.CID_MSG_DATA, 3);
  const acks = await Promise.all([0, 1, 2].map((i) => a.request(Cid.CID_MSG_DATA, text(13, 500, `g${i}`, 0x11))));
  const ids = acks.map((r) => (r.message as IM.Message.IMMsgDataAck).msgId);
  assert.ok(ids.every((id) => id > 0));
  assert.equal((acks[0]!.message as IM.Message.IMMsgDataAck).sessionType, 2);
  assert.deepEqual((await atB).map((r) => (r.message as IM.Message.IMMsgData).msgId), ids);
  assert.deepEqual((await atMobile).map((r) => (r.message as IM.Message.IMMsgData).msgId), ids);
  const notMember = await outsider.request(Cid.CID_MSG_DATA, text(16, 500, 'let me in', 0x11));
  assert.equal((notMember.message as IM.Message.IMMsgDataAck).msgId, 0);
  assert.equal(leaked, false);
});

test('history requests sharing one seq (Windows pulls every unread session on 0xff03) are each answered on it', async () => {
  const a = await fx.login(server, 23, PC);
  await a.request(Cid.CID_MSG_DATA, text(23, 24, 'to 24'));
  await a.request(Cid.CID_MSG_DATA, text(23, 1, 'to 1'));
  const lists = collectPushes(a, Cid.CID_MSG_LIST_RESPONSE, 2);
  for (const peer of [24, 1]) a.send(Cid.CID_MSG_LIST_REQUEST, { userId: 23, sessionType: 1, sessionId: peer, msgIdBegin: 0, msgCnt: 5 }, 0xff03);
  const got = (await lists).map((r) => [r.header.seqNum, (r.message as IM.Message.IMGetMsgListRsp).sessionId, (r.message as IM.Message.IMGetMsgListRsp).msgList.length]);
  assert.deepEqual(got.sort(), [[0xff03, 1, 1], [0xff03, 24, 1]]);
});

test('CID_MSG_TIME_REQUEST is answered with the server time', async () => {
  const a = await fx.login(server, 10, PC);
  const res = await a.request(Cid.CID_MSG_TIME_REQUEST, {});
  const t = (res.message as IM.Message.IMClientTimeRsp).serverTime;
  assert.ok(Math.abs(t - Date.now() / 1000) < 5);
});
