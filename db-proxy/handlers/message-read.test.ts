import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cid, encodeBody } from '../../proto/commands.ts';
import type { CidValue } from '../../proto/commands.ts';
import { withHandlerContext, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { createGroup } from './group-change.ts';
import { msgData } from './message-data.ts';
import { latestMsgId, msgById, msgList } from './message-history.ts';
import { readAck } from './message-read.ts';
import { unreadCount } from './message-unread.ts';
import type { HandlerContext, Reply } from './types.ts';

let t: HandlerTestContext;
let ctx: HandlerContext;
withHandlerContext((h) => ((t = h), (ctx = h.ctx)));

type Msg = Record<string, unknown> & { msgList: { msgId: number; fromSessionId: number; msgData: Buffer }[] };
type Unread = { userId: number; totalCnt: number; unreadinfoList: Record<string, unknown>[] };

/** Stores messages through the real send path, one batch; returns their msg ids. */
async function send(msgs: [from: number, to: number, text: string, type?: number, createTime?: number][]): Promise<number[]> {
  const replies = await msgData.run(
    ctx,
    msgs.map(([from, to, text, type = 1, createTime = 0]) => ({
      fromUserId: from, toSessionId: to, msgId: 0, createTime, msgType: type, msgData: Buffer.from(text),
    })),
  );
  const ids = replies.map((r) => (r!.message as { msgId: number }).msgId);
  assert.ok(ids.every((id) => id > 0), `messages stored: ${ids.join(',')}`);
  return ids;
}

async function unread(...users: number[]): Promise<Unread[]> {
  const replies = await unreadCount.run(ctx, users.map((userId) => ({ userId })));
  return replies.map((r) => encodable(r!).message as Unread);
}

async function list(userId: number, sessionType: number, sessionId: number, msgIdBegin: number, msgCnt: number): Promise<Msg> {
  const [r] = await msgList.run(ctx, [{ userId, sessionType, sessionId, msgIdBegin, msgCnt }]);
  return encodable(r!).message as Msg;
}

/** A reply must encode (every required field set), as the runner will do. */
function encodable(r: Reply): Reply {
  assert.ok(encodeBody(r.commandId as CidValue, r.message as never).length >= 0);
  return r;
}

test('one-to-one unread counts equal messages not yet read; read ack clears them', async () => {
  await send([[101, 102, 'a1'], [101, 102, 'a2'], [102, 101, 'b1'], [101, 102, 'a3']]);
  const [b, a, nobody] = await unread(102, 101, 999);
  assert.equal(b!.totalCnt, 3);
  assert.deepEqual(b!.unreadinfoList, [{
    sessionId: 101, sessionType: 1, unreadCnt: 3, latestMsgId: 4, latestMsgData: Buffer.from('a3'), latestMsgType: 1, latestMsgFromUserId: 101,
  }]);
  assert.equal(a!.totalCnt, 1);
  assert.equal(a!.unreadinfoList[0]!.sessionId, 102);
  assert.deepEqual(nobody, { userId: 999, totalCnt: 0, unreadinfoList: [] });

  assert.deepEqual(await readAck.run(ctx, [{ userId: 102, sessionId: 101, msgId: 4, sessionType: 1 }]), [null]);
  const [b2, a2] = await unread(102, 101);
  assert.equal(b2!.totalCnt, 0);
  assert.equal(a2!.totalCnt, 1, 'the other side keeps its count');
  assert.equal(await ctx.redis.hget('unread_102', '101'), null);
});

test('unread shows the newest visible message when the newest id is deleted or never stored', async () => {
  await send([[111, 112, 'c1'], [111, 112, 'c2'], [111, 112, 'c3']]);
  const [rows] = await t.storage.pool.query('SELECT id FROM IMRelationShip WHERE smallId = 111 AND bigId = 112');
  const relateId = (rows as { id: number }[])[0]!.id;
  await t.storage.pool.query(`UPDATE IMMessage_${relateId % ctx.shards} SET status = 1 WHERE relateId = ? AND msgId = 3`, [relateId]);
  await ctx.redis.set(`msg_id_${relateId}`, '4'); // an id taken by a send that never committed
  const [u] = await unread(112);
  assert.deepEqual([u!.totalCnt, u!.unreadinfoList[0]!.latestMsgId, u!.unreadinfoList[0]!.latestMsgData], [3, 2, Buffer.from('c2')]);
  assert.deepEqual((await list(112, 1, 111, 0, 10)).msgList.map((m) => m.msgId), [2, 1], 'deleted messages are not listed');
});

test('group unread is total minus what each member has read', async () => {
  const created = await createGroup.run(ctx, [{ userId: 201, groupType: 2, groupName: 'g', groupAvatar: '', memberIdList: [202, 203] }]);
  const groupId = (created[0]!.message as { groupId: number }).groupId;
  await send([[201, groupId, 'x1', 0x11], [201, groupId, 'x2', 0x11], [202, groupId, 'x3', 0x11]]);
  const [u1, u2, u3] = await unread(201, 202, 203);
  assert.equal(u1!.totalCnt, 1, 'sender has read up to its own last message');
  assert.equal(u2!.totalCnt, 0, 'own messages are never unread');
  assert.equal(u3!.totalCnt, 3);
  assert.deepEqual(u3!.unreadinfoList[0], {
    sessionId: groupId, sessionType: 2, unreadCnt: 3, latestMsgId: 3, latestMsgData: Buffer.from('x3'), latestMsgType: 0x11, latestMsgFromUserId: 202,
  });

  await readAck.run(ctx, [{ userId: 203, sessionId: groupId, msgId: 3, sessionType: 2 }]);
  assert.equal((await unread(203))[0]!.totalCnt, 0);
  await send([[201, groupId, 'x4', 0x11]]);
  const [v2, v3] = await unread(202, 203);
  assert.equal(v2!.totalCnt, 1);
  assert.equal(v3!.totalCnt, 1);
  assert.equal(v3!.unreadinfoList[0]!.latestMsgId, 4);
});

test('msg list pages backwards from msg_id_begin, newest first', async () => {
  await send([[301, 302, 'm1'], [302, 301, 'm2'], [301, 302, 'm3'], [302, 301, 'm4'], [301, 302, 'm5']]);
  const page1 = await list(301, 1, 302, 0, 2);
  assert.deepEqual(page1.msgList.map((m) => m.msgId), [5, 4]);
  assert.deepEqual(page1.msgList.map((m) => [m.fromSessionId, m.msgData.toString()]), [[301, 'm5'], [302, 'm4']]);
  assert.equal(page1.msgIdBegin, 0);
  assert.deepEqual((await list(302, 1, 301, 3, 2)).msgList.map((m) => m.msgId), [3, 2], 'same history from the other side');
  assert.deepEqual((await list(301, 1, 302, 1, 10)).msgList.map((m) => m.msgId), [1]);
  assert.deepEqual((await list(301, 1, 302, 5, 0)).msgList, []);
  assert.deepEqual((await list(301, 1, 399, 0, 10)).msgList, [], 'no conversation');
});

test('get by msg id and latest msg id', async () => {
  await send([[401, 402, 'n1'], [401, 402, 'n2'], [402, 401, 'n3']]);
  const [byId] = await msgById.run(ctx, [{ userId: 402, sessionType: 1, sessionId: 401, msgIdList: [1, 3, 99, 3] }]);
  assert.equal(encodable(byId!).commandId, Cid.CID_MSG_GET_BY_MSG_ID_RES);
  assert.deepEqual((byId!.message as Msg).msgList.map((m) => [m.msgId, m.msgData.toString()]), [[3, 'n3'], [1, 'n1']]);

  const latest = await latestMsgId.run(ctx, [
    { userId: 401, sessionType: 1, sessionId: 402 },
    { userId: 401, sessionType: 1, sessionId: 499 },
  ]);
  assert.deepEqual(latest.map((r) => (encodable(r!).message as { latestMsgId: number }).latestMsgId), [3, 0]);
});

test('group history: members only, from their join time on', async () => {
  const now = ctx.now();
  const created = await createGroup.run(ctx, [{ userId: 501, groupType: 2, groupName: 'h', groupAvatar: '', memberIdList: [502] }]);
  const groupId = (created[0]!.message as { groupId: number }).groupId;
  await send([[501, groupId, 'old', 0x11, now - 100], [502, groupId, 'g2', 0x11, now], [501, groupId, 'g3', 0x11, now]]);
  // Joined when the group was made: the message dated before that stays hidden.
  assert.deepEqual((await list(502, 2, groupId, 0, 10)).msgList.map((m) => m.msgId), [3, 2]);
  assert.deepEqual((await list(501, 2, groupId, 2, 10)).msgList.map((m) => [m.msgId, m.fromSessionId]), [[2, 502]]);

  assert.deepEqual((await list(503, 2, groupId, 0, 10)).msgList, [], 'non-member reads nothing');
  const [byId] = await msgById.run(ctx, [{ userId: 503, sessionType: 2, sessionId: groupId, msgIdList: [2, 3] }]);
  assert.deepEqual((byId!.message as Msg).msgList, []);
  const [latest] = await latestMsgId.run(ctx, [{ userId: 503, sessionType: 2, sessionId: groupId }]);
  assert.equal((latest!.message as { latestMsgId: number }).latestMsgId, 0);
  const [own] = await latestMsgId.run(ctx, [{ userId: 502, sessionType: 2, sessionId: groupId }]);
  assert.equal((own!.message as { latestMsgId: number }).latestMsgId, 3);
});

test('failures are answered with empty answers, read acks with nothing', () => {
  const err = new Error('storage down');
  for (const [handler, cid] of [
    [msgList, Cid.CID_MSG_LIST_RESPONSE],
    [msgById, Cid.CID_MSG_GET_BY_MSG_ID_RES],
    [latestMsgId, Cid.CID_MSG_GET_LATEST_MSG_ID_RSP],
    [unreadCount, Cid.CID_MSG_UNREAD_CNT_RESPONSE],
  ] as const) {
    const reply = handler.fail({} as never, err);
    assert.equal(encodable(reply!).commandId, cid);
  }
  const full = msgList.fail({ userId: 7, sessionType: 2, sessionId: 9, msgIdBegin: 4, msgCnt: 3 }, err)!;
  assert.deepEqual(full.message, { userId: 7, sessionType: 2, sessionId: 9, msgIdBegin: 4, msgList: [] });
  assert.equal(readAck.fail({ userId: 1, sessionId: 2, msgId: 3, sessionType: 1 }, err), null);
});

test('read acks and joining a group save read positions in IMSessionRead; positions only move forward', async () => {
  await send([[601, 602, 'p1'], [601, 602, 'p2'], [601, 602, 'p3']]);
  const created = await createGroup.run(ctx, [{ userId: 601, groupType: 2, groupName: 'r', groupAvatar: '', memberIdList: [602] }]);
  const groupId = (created[0]!.message as { groupId: number }).groupId;
  const positions = async (): Promise<string[]> => {
    const [rows] = await t.storage.pool.query('SELECT userId, peerId, type, msgId FROM IMSessionRead WHERE userId IN (601, 602) ORDER BY userId, type, peerId');
    return (rows as { userId: number; peerId: number; type: number; msgId: number }[]).map((r) => `${r.userId}>${r.type === 1 ? 'u' : 'g'}${r.peerId === groupId ? '' : r.peerId}@${r.msgId}`);
  };
  assert.deepEqual(await positions(), ['601>g@0', '602>g@0'], 'members join with nothing to read');
  await send([[601, groupId, 'q1', 0x11], [601, groupId, 'q2', 0x11]]);
  // The client's msg id is not trusted to be the latest: the session's counter is.
  await readAck.run(ctx, [{ userId: 602, sessionId: 601, msgId: 1, sessionType: 1 }, { userId: 602, sessionId: groupId, msgId: 0, sessionType: 2 }]);
  assert.deepEqual(await positions(), ['601>g@0', '602>u601@3', '602>g@2']);
  await ctx.redis.del(`group_msg_id_${groupId}`); // Redis lost the counter: MySQL's latest stands in
  await readAck.run(ctx, [{ userId: 601, sessionId: groupId, msgId: 0, sessionType: 2 }, { userId: 602, sessionId: 601, msgId: 2, sessionType: 1 }]);
  assert.deepEqual(await positions(), ['601>g@2', '602>u601@3', '602>g@2']);
});
