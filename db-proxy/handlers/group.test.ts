import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cid, encodeBody } from '../../proto/commands.ts';
import type { CidValue } from '../../proto/commands.ts';
import { extraContext, redisOnDb, withHandlerContext, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { changeMember, createGroup } from './group-change.ts';
import { groupInfo, normalGroupList } from './group-query.ts';
import { getShield, shieldGroup } from './group.ts';
import type { HandlerContext, Reply } from './types.ts';

let t: HandlerTestContext;
let ctx: HandlerContext;
withHandlerContext((h) => ((t = h), (ctx = h.ctx)));

type Body = Record<string, unknown>;

/** A reply must encode (every required field set), as the runner will do. */
function body(r: Reply | null): Body {
  assert.ok(r);
  encodeBody(r.commandId as CidValue, r.message as never);
  return r.message as Body;
}

async function create(userId: number, groupType: number, memberIdList: number[], groupName = 'team'): Promise<Body> {
  const [r] = await createGroup.run(ctx, [{ userId, groupType, groupName, groupAvatar: 'a.png', memberIdList }]);
  return body(r!);
}

async function change(userId: number, groupId: number, changeType: number, memberIdList: number[]): Promise<Body> {
  const [r] = await changeMember.run(ctx, [{ userId, groupId, changeType, memberIdList }]);
  return body(r!);
}

async function groupRow(id: number): Promise<{ userCnt: number; version: number; status: number; creator: number }> {
  const [rows] = await t.storage.pool.query('SELECT userCnt, version, status, creator FROM IMGroup WHERE id = ?', [id]);
  return (rows as { userCnt: number; version: number; status: number; creator: number }[])[0]!;
}

test('create: the creator joins, rows and member hash are written, bad requests are refused', async () => {
  const g = await create(11, 1, [13, 12, 12, 0]);
  assert.equal(g.resultCode, 0);
  assert.deepEqual(g.userIdList, [11, 12, 13]);
  const groupId = g.groupId as number;
  assert.ok(groupId > 0);
  assert.deepEqual(await groupRow(groupId), { userCnt: 3, version: 1, status: 0, creator: 11 });
  assert.deepEqual(Object.keys(await ctx.redis.hgetall(`group_member_${groupId}`)).sort(), ['11', '12', '13']);

  assert.equal((await create(11, 2, [12], '')).resultCode, 1, 'empty name');
  assert.equal((await create(11, 2, [])).resultCode, 1, 'no members');
  assert.equal((await create(11, 2, [12], 'x'.repeat(257))).resultCode, 1, 'name too long');
});

test('normal group list and group info', async () => {
  const normal = (await create(21, 1, [22])).groupId as number;
  const temp = (await create(21, 2, [22])).groupId as number;
  const [list] = await normalGroupList.run(ctx, [{ userId: 22 }, { userId: 29 }]);
  assert.deepEqual(body(list!).groupVersionList, [{ groupId: normal, version: 1 }], 'temporary groups are not listed');
  const [none] = await normalGroupList.run(ctx, [{ userId: 29 }]);
  assert.deepEqual(body(none!).groupVersionList, []);

  const [info] = await groupInfo.run(ctx, [{ userId: 22, groupVersionList: [{ groupId: temp, version: 0 }, { groupId: normal, version: 1 }, { groupId: 999999, version: 0 }] }]);
  assert.deepEqual(body(info!).groupInfoList, [{
    groupId: temp, version: 1, groupName: 'team', groupAvatar: 'a.png', groupCreatorId: 21, groupType: 2, shieldStatus: 0, groupMemberList: [21, 22],
  }], 'only groups newer than the client holds');
});

test('change members: who may, versions, counts, member list', async () => {
  const groupId = (await create(31, 1, [32])).groupId as number;
  const added = await change(31, groupId, 1, [33, 34, 32]);
  assert.equal(added.resultCode, 0);
  assert.deepEqual(added.chgUserIdList, [33, 34]);
  assert.deepEqual(added.curUserIdList, [31, 32, 33, 34]);
  assert.deepEqual(await groupRow(groupId), { userCnt: 4, version: 2, status: 0, creator: 31 });

  const again = await change(31, groupId, 1, [33]);
  assert.deepEqual([again.resultCode, again.chgUserIdList], [0, []]);
  assert.equal((await groupRow(groupId)).version, 2, 'nothing changed, same version');

  assert.equal((await change(32, groupId, 1, [35])).resultCode, 1, 'only the creator changes a normal group');
  assert.equal((await change(32, groupId, 2, [33])).resultCode, 1);
  assert.equal((await change(31, 999999, 1, [35])).resultCode, 1, 'no such group');
  assert.equal((await change(31, groupId, 1, [])).resultCode, 1, 'empty list');

  const removed = await change(31, groupId, 2, [33, 36]);
  assert.deepEqual([removed.resultCode, removed.chgUserIdList, removed.curUserIdList], [0, [33], [31, 32, 34]]);
  assert.deepEqual(await groupRow(groupId), { userCnt: 3, version: 3, status: 0, creator: 31 });
  assert.equal(await ctx.redis.hget(`group_member_${groupId}`, '33'), null);

  const back = await change(31, groupId, 1, [33]);
  assert.deepEqual([back.chgUserIdList, back.curUserIdList], [[33], [31, 32, 33, 34]]);
  const [rows] = await t.storage.pool.query('SELECT COUNT(*) AS n FROM IMGroupMember WHERE groupId = ? AND userId = 33', [groupId]);
  assert.equal((rows as { n: number }[])[0]!.n, 1, 'a returning member reuses its row');
  assert.equal((await groupRow(groupId)).userCnt, 4);

  const temp = (await create(41, 2, [42])).groupId as number;
  assert.equal((await change(42, temp, 1, [43])).resultCode, 0, 'any member adds to a temporary group');
  assert.equal((await change(44, temp, 1, [45])).resultCode, 1, 'a non-member does not');
  assert.equal((await change(42, temp, 2, [43])).resultCode, 1, 'only the creator removes');
});

test('added members start with nothing unread in the group', async () => {
  const groupId = (await create(51, 2, [52])).groupId as number;
  await ctx.redis.hset(`${groupId}_im_group_msg`, 'count', '7');
  await change(51, groupId, 1, [53]);
  assert.equal(await ctx.redis.hget(`53_${groupId}_im_user_group`, 'count'), '7');
});

test('push shield per member and group', async () => {
  const groupId = (await create(61, 2, [62])).groupId as number;
  const [ok] = await shieldGroup.run(ctx, [{ userId: 62, groupId, shieldStatus: 1 }]);
  assert.deepEqual(body(ok!), { userId: 62, groupId, resultCode: 0 });
  assert.equal(await ctx.redis.hget(`group_set_${groupId}`, '62_1'), '1');
  const [refused] = await shieldGroup.run(ctx, [{ userId: 69, groupId, shieldStatus: 1 }]);
  assert.equal(body(refused!).resultCode, 1, 'non-member');

  const [got] = await getShield.run(ctx, [{ groupId, userId: [62, 61, 69] }]);
  assert.deepEqual(body(got!).shieldStatusList, [
    { userId: 62, groupId, shieldStatus: 1 },
    { userId: 61, groupId, shieldStatus: 0 },
    { userId: 69, groupId, shieldStatus: 0 },
  ]);
  const [info] = await groupInfo.run(ctx, [{ userId: 62, groupVersionList: [{ groupId, version: 0 }] }]);
  assert.equal((body(info!).groupInfoList as Body[])[0]!.shieldStatus, 1);
});

test('failures are explicit refusals', () => {
  const err = new Error('storage down');
  const cases = [
    [createGroup, Cid.CID_GROUP_CREATE_RESPONSE],
    [changeMember, Cid.CID_GROUP_CHANGE_MEMBER_RESPONSE],
    [shieldGroup, Cid.CID_GROUP_SHIELD_GROUP_RESPONSE],
    [getShield, Cid.CID_OTHER_GET_SHIELD_RSP],
    [normalGroupList, Cid.CID_GROUP_NORMAL_LIST_RESPONSE],
    [groupInfo, Cid.CID_GROUP_INFO_RESPONSE],
  ] as const;
  for (const [handler, cid] of cases) {
    const reply = handler.fail({} as never, err);
    assert.equal(reply?.commandId, cid);
    const msg = body(reply);
    if ('resultCode' in msg) assert.equal(msg.resultCode, 1);
  }
  const r = changeMember.fail({ userId: 5, groupId: 6, changeType: 2, memberIdList: [7] }, err)!;
  assert.deepEqual(r.message, { userId: 5, changeType: 2, resultCode: 1, groupId: 6, curUserIdList: [], chgUserIdList: [] });
});

test('group caches on a Redis of their own (REDIS_URL_GROUP): member hash, push shield and list versions there, counters on REDIS_URL', async () => {
  const { url, redis: groupRedis } = redisOnDb(t.storage, 12);
  const own = await extraContext(t.storage, { redisGroupUrl: url });
  try {
    const [r] = await createGroup.run(own, [{ userId: 81, groupType: 1, groupName: 'split', groupAvatar: '', memberIdList: [82] }]);
    const groupId = body(r!).groupId as number;
    assert.deepEqual(Object.keys(await groupRedis.hgetall(`group_member_${groupId}`)).sort(), ['81', '82']);
    assert.equal(await t.storage.redis.exists(`group_member_${groupId}`), 0, 'not on REDIS_URL');
    assert.equal(await groupRedis.exists('user_groups_ver_82'), 1);
    assert.equal(await t.storage.redis.hget(`82_${groupId}_im_user_group`, 'count'), '0', 'read counters stay on REDIS_URL');
    await shieldGroup.run(own, [{ userId: 82, groupId, shieldStatus: 1 }]);
    assert.equal(await groupRedis.hget(`group_set_${groupId}`, '82_1'), '1');
    const [shields] = await getShield.run(own, [{ groupId, userId: [81, 82] }]);
    assert.deepEqual((body(shields!).shieldStatusList as { shieldStatus: number }[]).map((s) => s.shieldStatus), [0, 1]);
    await groupRedis.del(`group_member_${groupId}`, `group_set_${groupId}`, 'user_groups_ver_81', 'user_groups_ver_82');
  } finally {
    groupRedis.disconnect();
    await own.close();
  }
});
