import { createDecipheriv } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cid, encodeBody } from '../../proto/commands.ts';
import { createHandlerContext, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { audioPreview } from './message-audio.ts';
import { handlers } from './buddy.ts';
import type { Handler, HandlerContext, Reply } from './types.ts';

const INJECTION = "x' OR '1'='1";
let t: HandlerTestContext;
let ctx: HandlerContext;

const q = (sql: string, params: unknown[] = []) => t.storage.pool.query(sql, params);
const handler = (cid: number) => handlers.find((h) => h.commandId === cid) as unknown as Handler<object>;

async function run(cid: number, reqs: object[]): Promise<Record<string, unknown>[]> {
  const replies = (await handler(cid).run(ctx, reqs)) as Reply[];
  for (const r of replies) encodeBody(r.commandId as never, r.message as never);
  return replies.map((r) => r.message as Record<string, unknown>);
}

async function addUser(id: number, updated: number, status = 0): Promise<void> {
  await q(
    `INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId, status, created, updated, sign_info)
     VALUES (?, 2, ?, ?, ?, '', '', '555', '', 'http://a', 1, ?, 1, ?, '')`,
    [id, `user${id}`, `d${id}`, `n${id}`, status, updated],
  );
}

before(async () => {
  t = await createHandlerContext();
  ctx = t.ctx;
  await addUser(2001, 100);
  await addUser(2002, 200);
  await addUser(2003, 300, 3);
  await q(
    `INSERT INTO IMDepart (id, departName, priority, parentId, status, created, updated) VALUES
       (1, 'root', 0, 0, 0, 1, 100), (2, ?, 5, 1, 1, 1, 200), (3, 'odd', 0, 1, 9, 1, 300)`,
    [INJECTION],
  );
});
after(() => t.close());

describe('users and departments', () => {
  test('user info: one query for the batch, asked order, unknown ids left out', async () => {
    const out = await run(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, [
      { userId: 2001, userIdList: [2003, 9999, 2001, 2003] },
      { userId: 2002, userIdList: [] },
    ]);
    assert.deepEqual((out[0]!.userInfoList as { userId: number }[]).map((u) => u.userId), [2003, 2001]);
    assert.deepEqual((out[0]!.userInfoList as object[])[1], {
      userId: 2001, userGender: 2, userNickName: 'n2001', avatarUrl: 'http://a', departmentId: 1, email: '',
      userRealName: 'user2001', userTel: '555', userDomain: 'd2001', status: 0, signInfo: '',
    });
    assert.deepEqual(out[1], { userId: 2002, userInfoList: [] });
  });

  test('all users: first sync skips departed users, later syncs include every change', async () => {
    const [first, later, none] = await run(Cid.CID_BUDDY_LIST_ALL_USER_REQUEST, [
      { userId: 2001, latestUpdateTime: 0 },
      { userId: 2001, latestUpdateTime: 200 },
      { userId: 2001, latestUpdateTime: 301 },
    ]);
    assert.deepEqual((first!.userList as { userId: number }[]).map((u) => u.userId), [2001, 2002]);
    assert.equal(first!.latestUpdateTime, 200);
    assert.deepEqual((later!.userList as { userId: number }[]).map((u) => u.userId), [2002, 2003]);
    assert.equal(later!.latestUpdateTime, 300);
    assert.deepEqual(none, { userId: 2001, latestUpdateTime: 301, userList: [] });
  });

  test('departments changed after the time, invalid statuses left out', async () => {
    const [all, some] = await run(Cid.CID_BUDDY_LIST_DEPARTMENT_REQUEST, [
      { userId: 1, latestUpdateTime: 0 },
      { userId: 1, latestUpdateTime: 100 },
    ]);
    assert.deepEqual((all!.deptList as { deptId: number }[]).map((d) => d.deptId), [1, 2]);
    assert.equal(all!.latestUpdateTime, 300);
    assert.deepEqual(some!.deptList, [{ deptId: 2, priority: 5, deptName: INJECTION, parentDeptId: 1, deptStatus: 1 }]);
  });

  test('sign info: stored as given, too long or unknown user refused', async () => {
    const [ok, long, unknown] = await run(Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, [
      { userId: 2001, signInfo: INJECTION },
      { userId: 2002, signInfo: 'x'.repeat(129) },
      { userId: 9999, signInfo: 'hi' },
    ]);
    assert.deepEqual(ok, { userId: 2001, resultCode: 0, signInfo: INJECTION });
    assert.deepEqual(long, { userId: 2002, resultCode: 1 });
    assert.deepEqual(unknown, { userId: 9999, resultCode: 1 });
    const [rows] = await q('SELECT id, sign_info AS s FROM IMUser WHERE id IN (2001, 2002) ORDER BY id');
    assert.deepEqual(rows, [{ id: 2001, s: INJECTION }, { id: 2002, s: '' }]);
  });
});

describe('recent sessions', () => {
  // 2001 talks with 2002 (relation 17) and 2003 (relation 18, no message); 2001 is in group 42.
  before(async () => {
    await q('INSERT INTO IMRelationShip (id, smallId, bigId, status, created, updated) VALUES (17, 2001, 2002, 0, 1, 1), (18, 2001, 2003, 0, 1, 1)');
    await q(
      `INSERT INTO IMMessage_1 (relateId, fromId, toId, msgId, content, type, status, created, updated) VALUES
         (17, 2002, 2001, 1, 'first', 1, 0, 10, 10), (17, 2001, 2002, 2, 'second', 1, 0, 11, 11), (17, 2002, 2001, 3, 'gone', 1, 1, 12, 12)`,
    );
    await q(
      `INSERT INTO IMGroupMessage_2 (groupId, userId, msgId, content, type, status, created, updated) VALUES
         (42, 2002, 7, 'older', 17, 0, 10, 10), (42, 2003, 8, 'voice', 18, 0, 11, 11)`,
    );
    await q(
      `INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES
         (2001, 2002, 1, 0, 1, 500), (2001, 42, 2, 0, 1, 600), (2001, 2003, 1, 0, 1, 700), (2001, 77, 2, 1, 1, 800)`,
    );
  });

  test('newest first, each with its latest live message; sessions without one left out', async () => {
    const [all, recent] = await run(Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, [
      { userId: 2001, latestUpdateTime: 0 },
      { userId: 2001, latestUpdateTime: 500 },
    ]);
    const group = {
      sessionId: 42, sessionType: 2, sessionStatus: 0, updatedTime: 600,
      latestMsgId: 8, latestMsgData: audioPreview(), latestMsgType: 0x12, latestMsgFromUserId: 2003,
    };
    assert.deepEqual(all!.contactSessionList, [
      group,
      {
        sessionId: 2002, sessionType: 1, sessionStatus: 0, updatedTime: 500,
        latestMsgId: 2, latestMsgData: Buffer.from('second'), latestMsgType: 1, latestMsgFromUserId: 2001,
      },
    ]);
    assert.deepEqual(recent!.contactSessionList, [group]);
  });

  test('the voice preview is "[语音]" in the clients\' text encryption', () => {
    const key = Buffer.from('12345678901234567890123456789012');
    const decipher = createDecipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    const plain = Buffer.concat([decipher.update(Buffer.from(audioPreview().toString(), 'base64')), decipher.final()]);
    assert.equal(plain.length, 16);
    assert.equal(plain.readUInt32BE(12), 8);
    assert.equal(plain.subarray(0, 8).toString('utf8'), '[语音]');
  });

  test('remove: hides the session and marks the conversation read', async () => {
    await t.storage.redis.hset('unread_2001', { 2002: '4', 2005: '1' });
    await t.storage.redis.hset('42_im_group_msg', { count: '12' });
    await t.storage.redis.hset('2001_42_im_user_group', { count: '3' });
    const out = await run(Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ, [
      { userId: 2001, sessionType: 1, sessionId: 2002 },
      { userId: 2001, sessionType: 2, sessionId: 42 },
      { userId: 2001, sessionType: 2, sessionId: 77 },
    ]);
    assert.deepEqual(out.map((m) => m.resultCode), [0, 0, 1]);
    assert.deepEqual(out[1], { userId: 2001, resultCode: 0, sessionType: 2, sessionId: 42 });
    assert.deepEqual(await t.storage.redis.hgetall('unread_2001'), { 2005: '1' });
    assert.deepEqual(await t.storage.redis.hgetall('2001_42_im_user_group'), { count: '12' });
    const [rows] = await q('SELECT peerId, status FROM IMRecentSession WHERE userId = 2001 ORDER BY peerId');
    assert.deepEqual(rows, [{ peerId: 42, status: 1 }, { peerId: 77, status: 1 }, { peerId: 2002, status: 1 }, { peerId: 2003, status: 0 }]);
    // The read positions move too, so a rebuild after a Redis loss does not bring the messages back as unread.
    const [read] = await q('SELECT peerId, type, msgId FROM IMSessionRead WHERE userId = 2001 ORDER BY peerId');
    assert.deepEqual(read, [{ peerId: 42, type: 2, msgId: 8 }, { peerId: 2002, type: 1, msgId: 3 }]);
    const again = await run(Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ, [{ userId: 2001, sessionType: 1, sessionId: 2002 }]);
    assert.equal(again[0]!.resultCode, 1);
  });

  test('fail answers: empty lists and result code 1', () => {
    const fail = (cid: number, req: object) => handler(cid).fail(req, new Error('down'));
    assert.deepEqual(fail(Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, { userId: 5, latestUpdateTime: 0 }), {
      commandId: Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE,
      message: { userId: 5, contactSessionList: [] },
    });
    assert.deepEqual(fail(Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ, {})!.message, { userId: 0, resultCode: 1, sessionType: 1, sessionId: 0 });
    assert.deepEqual(fail(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, { userId: 5, userIdList: [1] })!.message, { userId: 5, userInfoList: [] });
    assert.deepEqual(fail(Cid.CID_BUDDY_LIST_ALL_USER_REQUEST, { userId: 5, latestUpdateTime: 9 })!.message, { userId: 5, latestUpdateTime: 9, userList: [] });
    assert.deepEqual(fail(Cid.CID_BUDDY_LIST_DEPARTMENT_REQUEST, { userId: 5, latestUpdateTime: 9 })!.message, { userId: 5, latestUpdateTime: 9, deptList: [] });
    assert.deepEqual(fail(Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, { userId: 5, signInfo: 'x' })!.message, { userId: 5, resultCode: 1 });
  });
});

test('every refusal encodes, even for a request that could not be decoded', () => {
  for (const h of handlers) {
    const reply = h.fail({} as never, new Error('bad body'));
    if (reply) assert.ok(encodeBody(reply.commandId as never, reply.message as never).length >= 0);
  }
});
