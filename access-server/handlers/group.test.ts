/**
 * Group handlers against a real db-proxy: creation always answered, the
 * session's user as requester, member-change notifies and their recipients.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid } from '../../proto/commands.ts';
import type { PduClient } from '../../proto/client.ts';
import { createTestAccess, request, TestConn, type Sent, type TestAccess } from '../../test/helpers/access-context.ts';
import { startTestDbProxy, type DbProxyFixture } from '../../test/helpers/db-proxy.ts';
import { handlers } from './group.ts';
import type { ClientHandler } from './types.ts';

type Body = Record<string, unknown>;
const NORMAL = 1;
const TMP = 2;
const ADD = 1;
const DEL = 2;

let fx: DbProxyFixture;
let client: PduClient;
let a: TestAccess;
let tmpGroup = 0;
const table = new Map<number, ClientHandler>(handlers.map(([cid, h]) => [cid, h]));
const groupCount = async (): Promise<number> => ((await fx.storage.pool.query('SELECT COUNT(*) AS n FROM IMGroup'))[0] as { n: number }[])[0]!.n;

async function ask(conn: TestConn, cid: number, message: Body): Promise<Sent> {
  const req = request(cid, message);
  await table.get(cid)!(a.ctx, conn, req);
  const sent = conn.only();
  conn.sent.length = 0;
  assert.equal(sent.seqNum, req.header.seqNum);
  assert.equal('attachData' in sent.message, false);
  return sent;
}

before(async () => {
  fx = await startTestDbProxy();
  client = await fx.connect();
  a = createTestAccess(client);
});
after(() => fx.close());

test('create: a temporary group of the session user and the members; a normal one refused with an answer', async () => {
  const c = new TestConn(101);
  const made = await ask(c, Cid.CID_GROUP_CREATE_REQUEST, { userId: 999, groupType: TMP, groupName: 'team', groupAvatar: '', memberIdList: [102] });
  assert.equal(made.commandId, Cid.CID_GROUP_CREATE_RESPONSE);
  assert.deepEqual([made.message.userId, made.message.resultCode, made.message.userIdList], [101, 0, [101, 102]]);
  tmpGroup = made.message.groupId as number;
  assert.ok(tmpGroup > 0);
  assert.deepEqual(a.forgotten.splice(0), [tmpGroup]);
  const [row] = (await fx.storage.pool.query('SELECT creator FROM IMGroup WHERE id = ?', [tmpGroup]))[0] as { creator: number }[];
  assert.equal(row!.creator, 101);

  const groups = await groupCount();
  const calls = a.dbCalls.length;
  const normal = await ask(c, Cid.CID_GROUP_CREATE_REQUEST, { userId: 101, groupType: NORMAL, groupName: 'all', groupAvatar: '', memberIdList: [102] });
  assert.deepEqual(normal.message, { userId: 101, resultCode: 1, groupName: 'all', userIdList: [] });
  assert.equal(a.dbCalls.length, calls, 'refused without db-proxy');
  assert.equal(await groupCount(), groups);

  const empty = await ask(c, Cid.CID_GROUP_CREATE_REQUEST, { userId: 101, groupType: TMP, groupName: 'x', groupAvatar: '', memberIdList: [] });
  assert.equal(empty.message.resultCode, 1, "db-proxy's refusal reaches the client");
});

test('change members: notify to members and changed users, except the requesting connection', async () => {
  const c = new TestConn(101);
  const added = await ask(c, Cid.CID_GROUP_CHANGE_MEMBER_REQUEST, { userId: 102, changeType: ADD, groupId: tmpGroup, memberIdList: [103] });
  assert.deepEqual(
    [added.message.userId, added.message.resultCode, added.message.curUserIdList, added.message.chgUserIdList],
    [101, 0, [101, 102, 103], [103]],
  );
  assert.equal(a.dbCalls.at(-1)!.orderKey, `g${tmpGroup}`);
  assert.deepEqual(a.forgotten.splice(0), [tmpGroup]);
  assert.deepEqual(a.deliveries.splice(0), [{
    userIds: [101, 102, 103],
    commandId: Cid.CID_GROUP_CHANGE_MEMBER_NOTIFY,
    message: { userId: 101, changeType: ADD, groupId: tmpGroup, curUserIdList: [101, 102, 103], chgUserIdList: [103] },
    opts: { exceptConnId: c.id, orderKey: `g${tmpGroup}` },
  }]);

  const same = await ask(c, Cid.CID_GROUP_CHANGE_MEMBER_REQUEST, { userId: 101, changeType: ADD, groupId: tmpGroup, memberIdList: [103] });
  assert.deepEqual([same.message.resultCode, same.message.chgUserIdList], [0, []]);
  assert.equal(a.deliveries.length, 0, 'nothing changed, nobody told');

  // 102 claims to be the creator: acts as 102, who may not remove anyone.
  const forged = await ask(new TestConn(102), Cid.CID_GROUP_CHANGE_MEMBER_REQUEST, { userId: 101, changeType: DEL, groupId: tmpGroup, memberIdList: [103] });
  assert.deepEqual([forged.message.userId, forged.message.resultCode], [102, 1]);
  assert.equal(a.deliveries.length, 0);

  const removed = await ask(c, Cid.CID_GROUP_CHANGE_MEMBER_REQUEST, { userId: 101, changeType: DEL, groupId: tmpGroup, memberIdList: [103] });
  assert.deepEqual(removed.message.chgUserIdList, [103]);
  assert.deepEqual(a.deliveries.splice(0).map((d) => d.userIds), [[101, 102, 103]], 'the removed member is told too');
});

test('normal list, group info and shield answer for the session user', async () => {
  const made = await client.request(Cid.CID_GROUP_CREATE_REQUEST, { userId: 101, groupType: NORMAL, groupName: 'all', groupAvatar: '', memberIdList: [102] });
  const normalId = (made.message as Body).groupId as number;
  const c = new TestConn(102);
  const list = await ask(c, Cid.CID_GROUP_NORMAL_LIST_REQUEST, { userId: 999 });
  assert.deepEqual([list.message.userId, (list.message.groupVersionList as Body[]).map((g) => g.groupId)], [102, [normalId]]);

  const info = await ask(c, Cid.CID_GROUP_INFO_REQUEST, { userId: 999, groupVersionList: [{ groupId: tmpGroup, version: 0 }] });
  assert.equal(info.message.userId, 102);
  assert.deepEqual((info.message.groupInfoList as Body[]).map((g) => [g.groupId, g.groupMemberList]), [[tmpGroup, [101, 102]]]);

  const shield = await ask(c, Cid.CID_GROUP_SHIELD_GROUP_REQUEST, { userId: 101, groupId: tmpGroup, shieldStatus: 1 });
  assert.deepEqual(shield.message, { userId: 102, groupId: tmpGroup, resultCode: 0 });
  assert.deepEqual(await fx.storage.redis.hmget(`group_set_${tmpGroup}`, '102_1', '101_1'), ['1', null]);
});
