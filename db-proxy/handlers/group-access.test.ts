/**
 * Group data only for members: information, members, history, latest id
 * and unread counts of a group are answered to its members alone, as
 * TeamTalk answers for an id that names no group; user 0 is nobody.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBody, type CidValue } from '../../proto/commands.ts';
import { withHandlerContext, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { changeMember, createGroup } from './group-change.ts';
import { groupInfo } from './group-query.ts';
import { latestMsgId, msgById, msgList } from './message-history.ts';
import { unreadCount } from './message-unread.ts';
import type { Handler, Reply } from './types.ts';

type Body = Record<string, unknown>;
const GROUP = 2;
const OWNER = 71;
const MEMBER = 72;
const STRANGER = 79;

let t: HandlerTestContext;
withHandlerContext((h) => (t = h));

async function ask(h: Handler<never>, req: object): Promise<Body> {
  const [r] = await (h as unknown as Handler<object>).run(t.ctx, [req]);
  const reply = r as Reply;
  encodeBody(reply.commandId as CidValue, reply.message as never);
  return reply.message as Body;
}
const as = <T>(h: Handler<T>): Handler<never> => h as unknown as Handler<never>;

async function makeGroup(type = 1): Promise<number> {
  const made = await ask(as(createGroup), { userId: OWNER, groupType: type, groupName: 'secret plans', groupAvatar: '', memberIdList: [MEMBER] });
  assert.equal(made.resultCode, 0);
  return made.groupId as number;
}

async function storeGroupMessages(groupId: number, count: number): Promise<void> {
  const shard = groupId % t.storage.shards;
  const now = Math.floor(Date.now() / 1000);
  const rows = Array.from({ length: count }, (_, i) => [groupId, OWNER, i + 1, `hello ${i + 1}`, 0x11, 0, now, now]);
  await t.storage.pool.query(`INSERT INTO IMGroupMessage_${shard} (groupId, userId, msgId, content, type, status, updated, created) VALUES ?`, [rows]);
  await t.storage.redis.hset(`${groupId}_im_group_msg`, 'count', String(count));
}

test('group info: members get name, creator and members; a stranger and user 0 get nothing', async () => {
  const groupId = await makeGroup();
  const info = (userId: number) => ask(as(groupInfo), { userId, groupVersionList: [{ groupId, version: 0 }] });
  const mine = (await info(MEMBER)).groupInfoList as Body[];
  assert.deepEqual(mine.map((g) => [g.groupId, g.groupName, g.groupCreatorId, g.groupMemberList]), [[groupId, 'secret plans', OWNER, [OWNER, MEMBER]]]);
  assert.deepEqual((await info(STRANGER)).groupInfoList, []);
  assert.deepEqual((await info(0)).groupInfoList, []);
  const removed = await ask(as(changeMember), { userId: OWNER, groupId, changeType: 2, memberIdList: [MEMBER] });
  assert.equal(removed.resultCode, 0);
  assert.deepEqual((await info(MEMBER)).groupInfoList, [], 'a removed member no longer sees the group');
});

test('group ids cannot be enumerated', async () => {
  const ids = [await makeGroup(1), await makeGroup(2), await makeGroup(1)];
  const probe = Array.from({ length: Math.max(...ids) + 20 }, (_, i) => ({ groupId: i + 1, version: 0 }));
  for (const userId of [STRANGER, 0]) {
    const found = await ask(as(groupInfo), { userId, groupVersionList: probe });
    assert.deepEqual(found.groupInfoList, [], `user ${userId}`);
  }
  const owner = await ask(as(groupInfo), { userId: OWNER, groupVersionList: probe });
  const seen = new Set((owner.groupInfoList as Body[]).map((g) => g.groupId));
  assert.ok(ids.every((id) => seen.has(id)), 'the creator sees each of hers');
});

test('history, messages by id, latest id and unread only for members', async () => {
  const groupId = await makeGroup();
  await storeGroupMessages(groupId, 3);
  const session = { sessionType: GROUP, sessionId: groupId };
  for (const userId of [STRANGER, 0]) {
    assert.deepEqual((await ask(as(msgList), { userId, ...session, msgIdBegin: 0, msgCnt: 10 })).msgList, [], `list, user ${userId}`);
    assert.deepEqual((await ask(as(msgById), { userId, ...session, msgIdList: [1, 2, 3] })).msgList, [], `by id, user ${userId}`);
    assert.equal((await ask(as(latestMsgId), { userId, ...session })).latestMsgId, 0, `latest, user ${userId}`);
    assert.deepEqual((await ask(as(unreadCount), { userId })).unreadinfoList, [], `unread, user ${userId}`);
  }
  assert.equal(((await ask(as(msgList), { userId: MEMBER, ...session, msgIdBegin: 0, msgCnt: 10 })).msgList as Body[]).length, 3);
  assert.equal((await ask(as(latestMsgId), { userId: MEMBER, ...session })).latestMsgId, 3);
});

test('user 0 is no superuser: it creates no group and changes none; members change only what TeamTalk lets them', async () => {
  const groupId = await makeGroup(1);
  const tmp = await makeGroup(2);
  const change = (userId: number, gid: number, changeType: number, memberIdList: number[]) =>
    ask(as(changeMember), { userId, groupId: gid, changeType, memberIdList });
  assert.equal((await change(0, groupId, 1, [STRANGER])).resultCode, 1, 'user 0 adds nobody');
  assert.equal((await change(0, groupId, 2, [MEMBER])).resultCode, 1, 'user 0 removes nobody');
  assert.equal((await change(STRANGER, tmp, 1, [STRANGER])).resultCode, 1, 'a stranger does not add himself to a temporary group');
  assert.equal((await change(MEMBER, groupId, 2, [OWNER])).resultCode, 1, 'a member does not remove the creator');
  assert.equal((await change(MEMBER, tmp, 2, [OWNER])).resultCode, 1);
  const [rows] = await t.storage.pool.query('SELECT groupId, userId FROM IMGroupMember WHERE groupId IN (?, ?) AND status = 0 ORDER BY groupId, userId', [groupId, tmp]);
  assert.deepEqual(rows, [{ groupId, userId: OWNER }, { groupId, userId: MEMBER }, { groupId: tmp, userId: OWNER }, { groupId: tmp, userId: MEMBER }]);
  const made = await ask(as(createGroup), { userId: 0, groupType: 1, groupName: 'orphan', groupAvatar: '', memberIdList: [STRANGER] });
  assert.equal(made.resultCode, 1);
  const [orphans] = await t.storage.pool.query("SELECT COUNT(*) AS n FROM IMGroup WHERE name = 'orphan'");
  assert.equal((orphans as { n: number }[])[0]!.n, 0);
});
