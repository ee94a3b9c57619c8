/**
 * Buddy, settings, message-query and file handlers against a real db-proxy:
 * answers on the client's seq, the session's user in place of whatever user
 * the client named, notifies and their recipients.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid } from '../../proto/commands.ts';
import type { PduClient } from '../../proto/client.ts';
import { createTestAccess, request, TestConn, type Sent, type TestAccess } from '../../test/helpers/access-context.ts';
import { startTestDbProxy, type DbProxyFixture } from '../../test/helpers/db-proxy.ts';
import { handlers as buddy } from './buddy.ts';
import { handlers as file } from './file.ts';
import { handlers as messageQuery } from './message-query.ts';
import { handlers as settings } from './settings.ts';
import type { ClientHandler } from './types.ts';

type Body = Record<string, unknown>;
const IOS = 0x11;

let fx: DbProxyFixture;
let client: PduClient;
let a: TestAccess;
const table = new Map<number, ClientHandler>([...buddy, ...settings, ...messageQuery, ...file].map(([cid, h]) => [cid, h]));
const q = async <T>(sql: string, params: unknown[] = []): Promise<T> => (await fx.storage.pool.query(sql, params))[0] as T;

/** Runs one request through its handler and returns what the client got, checking seq and attach_data. */
async function ask(conn: TestConn, cid: number, message: Body, answers = true): Promise<Sent> {
  const before = conn.sent.length;
  const req = request(cid, message);
  await table.get(cid)!(a.ctx, conn, req);
  assert.equal(conn.sent.length, before + (answers ? 1 : 0), `answers of 0x${cid.toString(16)}`);
  const sent = conn.sent.at(-1)!;
  if (answers) {
    assert.equal(sent.seqNum, req.header.seqNum, 'answered on the client seq');
    assert.equal('attachData' in sent.message, false, 'no attach_data for clients');
  }
  return sent;
}

async function message(from: number, to: number, text: string): Promise<void> {
  const r = await client.request(Cid.CID_MSG_DATA, { fromUserId: from, toSessionId: to, msgId: 0, createTime: 1, msgType: 1, msgData: Buffer.from(text) }, { expect: Cid.CID_MSG_DATA });
  assert.ok((r.message as Body).msgId as number > 0);
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(await check());
}

before(async () => {
  fx = await startTestDbProxy();
  client = await fx.connect();
  a = createTestAccess(client);
  for (const id of [101, 102, 103, 104]) {
    await q(
      `INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId, status, created, updated, sign_info)
       VALUES (?, 1, ?, '', ?, '', '', '', '', '', 1, 0, 1, 1, '')`,
      [id, `user${id}`, `nick${id}`],
    );
  }
  await q(`INSERT INTO IMDepart (id, departName, priority, parentId, status, created, updated) VALUES (1, ?, 0, 0, 0, 1, 1)`, ['dev']);
  await message(101, 102, 'hi');
  await message(103, 104, 'one');
  await message(103, 104, 'two');
});
after(() => fx.close());

test('user info, all users, departments: for the session user, on the client seq', async () => {
  const c = new TestConn(101);
  const info = await ask(c, Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, { userId: 999, userIdList: [102, 101] });
  assert.equal(info.commandId, Cid.CID_BUDDY_LIST_USER_INFO_RESPONSE);
  assert.equal(info.message.userId, 101);
  assert.deepEqual((info.message.userInfoList as Body[]).map((u) => u.userId), [102, 101]);
  assert.deepEqual([a.dbCalls.at(-1)!.message.userId, a.dbCalls.at(-1)!.connId], [101, c.id]);

  const all = await ask(c, Cid.CID_BUDDY_LIST_ALL_USER_REQUEST, { userId: 999, latestUpdateTime: 0 });
  assert.deepEqual([all.commandId, all.message.userId, (all.message.userList as Body[]).length], [Cid.CID_BUDDY_LIST_ALL_USER_RESPONSE, 101, 4]);
  const dept = await ask(c, Cid.CID_BUDDY_LIST_DEPARTMENT_REQUEST, { userId: 999, latestUpdateTime: 0 });
  assert.deepEqual([dept.commandId, dept.message.userId, (dept.message.deptList as Body[])[0]!.deptName], [Cid.CID_BUDDY_LIST_DEPARTMENT_RESPONSE, 101, 'dev']);
});

test('recent sessions; removing one tells the user’s other devices', async () => {
  const c = new TestConn(102);
  const recent = await ask(c, Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, { userId: 101, latestUpdateTime: 0 });
  assert.equal(recent.message.userId, 102);
  assert.deepEqual((recent.message.contactSessionList as Body[]).map((s) => s.sessionId), [101]);

  const removed = await ask(c, Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ, { userId: 101, sessionType: 1, sessionId: 101 });
  assert.deepEqual(removed.message, { userId: 102, resultCode: 0, sessionType: 1, sessionId: 101 });
  const rows = await q<{ userId: number; status: number }[]>('SELECT userId, status FROM IMRecentSession ORDER BY userId');
  assert.deepEqual(rows.filter((r) => r.userId === 101 || r.userId === 102).map((r) => [r.userId, r.status]), [[101, 0], [102, 1]]);
  assert.deepEqual(a.deliveries.splice(0), [{
    userIds: [102], commandId: Cid.CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY, message: { userId: 102, sessionType: 1, sessionId: 101 },
    opts: { exceptConnId: c.id, orderKey: '101:102' },
  }]);
  const again = await ask(c, Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ, { userId: 102, sessionType: 1, sessionId: 101 });
  assert.equal(again.message.resultCode, 1);
  assert.equal(a.deliveries.length, 0, 'nothing removed, nobody told');
});

test('signature: stored for the session user, told to own devices and recent peers', async () => {
  const c = new TestConn(101);
  const ok = await ask(c, Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, { userId: 102, signInfo: 'away' });
  assert.deepEqual([ok.message.userId, ok.message.resultCode], [101, 0]);
  const signs = await q<{ id: number; sign_info: string }[]>('SELECT id, sign_info FROM IMUser WHERE id IN (101, 102) ORDER BY id');
  assert.deepEqual(signs.map((r) => r.sign_info), ['away', '']);
  assert.deepEqual(a.deliveries.splice(0), [{
    userIds: [101, 102], commandId: Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, message: { changedUserId: 101, signInfo: 'away' },
    opts: { exceptConnId: c.id },
  }]);
  const bad = await ask(c, Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, { userId: 101, signInfo: 'x'.repeat(200) });
  assert.equal(bad.message.resultCode, 1);
  assert.equal(a.deliveries.length, 0);
});

test('users status: online only for PC connections on this server', async () => {
  a.online.push(new TestConn(102), new TestConn(103, IOS));
  const calls = a.dbCalls.length;
  const r = await ask(new TestConn(101), Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 999, userIdList: [102, 103, 104, 102] });
  assert.deepEqual(r.message, {
    userId: 101,
    userStatList: [{ userId: 102, status: 1 }, { userId: 103, status: 2 }, { userId: 104, status: 2 }, { userId: 102, status: 1 }],
  });
  assert.equal(a.dbCalls.length, calls, 'answered without db-proxy');
  a.online.length = 0;
});

test('push shield and device token belong to the session user', async () => {
  const phone = new TestConn(103, IOS);
  const set = await ask(phone, Cid.CID_LOGIN_REQ_PUSH_SHIELD, { userId: 104, shieldStatus: 1 });
  assert.deepEqual(set.message, { userId: 103, resultCode: 0, shieldStatus: 1 });
  const got = await ask(phone, Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD, { userId: 104 });
  assert.deepEqual(got.message, { userId: 103, resultCode: 0, shieldStatus: 1 });
  const rows = await q<{ id: number; s: number }[]>('SELECT id, push_shield_status AS s FROM IMUser WHERE id IN (103, 104) ORDER BY id');
  assert.deepEqual(rows.map((r) => r.s), [1, 0]);

  const token = await ask(phone, Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 104, deviceToken: 'tok-abc', clientType: 0x12 });
  assert.deepEqual([token.commandId, token.message], [Cid.CID_LOGIN_RES_DEVICETOKEN, { userId: 103 }]);
  assert.deepEqual(await fx.storage.redis.mget('device_103', 'device_104'), ['ios:tok-abc', null], 'stored as the connection’s client type');

  const calls = a.dbCalls.length;
  const pc = await ask(new TestConn(101), Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 101, deviceToken: 'tok-pc' });
  assert.deepEqual(pc.message, { userId: 101 });
  assert.equal(a.dbCalls.length, calls, 'a PC token is answered, not stored');
});

test('message queries: unread, list, by id, latest — only the session user’s conversations', async () => {
  const c = new TestConn(104);
  const unread = await ask(c, Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: 102 });
  assert.deepEqual([unread.message.userId, unread.message.totalCnt], [104, 2]);
  assert.deepEqual((unread.message.unreadinfoList as Body[]).map((u) => [u.sessionId, u.unreadCnt]), [[103, 2]]);

  const list = await ask(c, Cid.CID_MSG_LIST_REQUEST, { userId: 102, sessionType: 1, sessionId: 103, msgIdBegin: 0, msgCnt: 10 });
  assert.deepEqual([list.message.userId, (list.message.msgList as Body[]).map((m) => m.msgId)], [104, [2, 1]]);
  assert.equal(a.dbCalls.at(-1)!.orderKey, '103:104', 'the conversation’s db-proxy link');
  const stranger = await ask(new TestConn(101), Cid.CID_MSG_LIST_REQUEST, { userId: 103, sessionType: 1, sessionId: 104, msgIdBegin: 0, msgCnt: 10 });
  assert.deepEqual([stranger.message.userId, stranger.message.msgList], [101, []], 'naming another user reads nothing of theirs');

  const byId = await ask(c, Cid.CID_MSG_GET_BY_MSG_ID_REQ, { userId: 102, sessionType: 1, sessionId: 103, msgIdList: [1] });
  assert.deepEqual((byId.message.msgList as Body[]).map((m) => [m.msgId, Buffer.from(m.msgData as Uint8Array).toString()]), [[1, 'one']]);
  const latest = await ask(c, Cid.CID_MSG_GET_LATEST_MSG_ID_REQ, { userId: 102, sessionType: 1, sessionId: 103 });
  assert.deepEqual(latest.message, { userId: 104, sessionType: 1, sessionId: 103, latestMsgId: 2 });
});

test('offline files: recorded as sent by the session user, listed without file servers; transfers refused', async () => {
  const rowsOf = () => q<{ fromId: number; toId: number }[]>('SELECT fromId, toId FROM IMTransmitFile');
  await ask(new TestConn(101), Cid.CID_FILE_ADD_OFFLINE_REQ, { fromUserId: 102, toUserId: 103, taskId: 't1', fileName: 'f.txt', fileSize: 10 }, false);
  await until(async () => (await rowsOf()).length === 1);
  assert.deepEqual((await rowsOf()).map((r) => [r.fromId, r.toId]), [[101, 103]]);

  const has = await ask(new TestConn(103), Cid.CID_FILE_HAS_OFFLINE_REQ, { userId: 101 });
  assert.deepEqual([has.message.userId, has.message.ipAddrList], [103, []]);
  assert.deepEqual((has.message.offlineFileList as Body[]).map((f) => ({ ...f })), [{ fromUserId: 101, taskId: 't1', fileName: 'f.txt', fileSize: 10 }]);

  await ask(new TestConn(104), Cid.CID_FILE_DEL_OFFLINE_REQ, { fromUserId: 101, toUserId: 103, taskId: 't1' }, false);
  assert.equal(a.dbCalls.at(-1)!.message.toUserId, 104, 'a stranger can only drop files sent to them');
  await ask(new TestConn(103), Cid.CID_FILE_DEL_OFFLINE_REQ, { fromUserId: 101, toUserId: 999, taskId: 't1' }, false);
  await until(async () => (await rowsOf()).length === 0);

  const refused = await ask(new TestConn(101), Cid.CID_FILE_REQUEST, { fromUserId: 999, toUserId: 102, fileName: 'x', fileSize: 5, transMode: 1 });
  assert.deepEqual([refused.commandId, refused.message.resultCode, refused.message.fromUserId, refused.message.taskId], [Cid.CID_FILE_RESPONSE, 1, 101, '']);
});
