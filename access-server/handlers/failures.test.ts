/**
 * Every request with an answer in the protocol is answered, with an
 * explicit failure, when db-proxy is gone or too slow, and the dispatcher's
 * refusal of every command answers too.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { ClientCap } from '../../proto/caps.ts';
import { PduClient } from '../../proto/client.ts';
import { Cid, commandById } from '../../proto/commands.ts';
import { createTestAccess, request, TestConn, type TestAccess } from '../../test/helpers/access-context.ts';
import { startTestDbProxy, type DbProxyFixture } from '../../test/helpers/db-proxy.ts';
import { handlers as buddy } from './buddy.ts';
import { handlers as file } from './file.ts';
import { handlers as group } from './group.ts';
import { handlers as messageQuery } from './message-query.ts';
import { handlers as message } from './message.ts';
import { handlers as settings } from './settings.ts';
import type { HandlerEntry } from './types.ts';

type Body = Record<string, unknown>;
const UID = 7;
const IOS = 0x11;
const entries: HandlerEntry[] = [...buddy, ...group, ...messageQuery, ...settings, ...file];
const session = { sessionType: 1, sessionId: 8 };

/** One valid request per command, each naming another user than the session's. */
const requests: Record<number, Body> = {
  [Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST]: { userId: 9, latestUpdateTime: 0 },
  [Cid.CID_BUDDY_LIST_USER_INFO_REQUEST]: { userId: 9, userIdList: [8] },
  [Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ]: { userId: 9, ...session },
  [Cid.CID_BUDDY_LIST_ALL_USER_REQUEST]: { userId: 9, latestUpdateTime: 5 },
  [Cid.CID_BUDDY_LIST_DEPARTMENT_REQUEST]: { userId: 9, latestUpdateTime: 5 },
  [Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST]: { userId: 9, signInfo: 'x' },
  [Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST]: { userId: 9, userIdList: [8] },
  [Cid.CID_GROUP_NORMAL_LIST_REQUEST]: { userId: 9 },
  [Cid.CID_GROUP_INFO_REQUEST]: { userId: 9, groupVersionList: [{ groupId: 3, version: 0 }] },
  [Cid.CID_GROUP_CREATE_REQUEST]: { userId: 9, groupType: 2, groupName: 'g', groupAvatar: '', memberIdList: [8] },
  [Cid.CID_GROUP_CHANGE_MEMBER_REQUEST]: { userId: 9, changeType: 2, groupId: 3, memberIdList: [8] },
  [Cid.CID_GROUP_SHIELD_GROUP_REQUEST]: { userId: 9, groupId: 3, shieldStatus: 1 },
  [Cid.CID_MSG_UNREAD_CNT_REQUEST]: { userId: 9 },
  [Cid.CID_MSG_LIST_REQUEST]: { userId: 9, ...session, msgIdBegin: 4, msgCnt: 5 },
  [Cid.CID_MSG_GET_BY_MSG_ID_REQ]: { userId: 9, ...session, msgIdList: [1] },
  [Cid.CID_MSG_GET_LATEST_MSG_ID_REQ]: { userId: 9, ...session },
  [Cid.CID_LOGIN_REQ_PUSH_SHIELD]: { userId: 9, shieldStatus: 1 },
  [Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD]: { userId: 9 },
  [Cid.CID_LOGIN_REQ_DEVICETOKEN]: { userId: 9, deviceToken: 'tok' },
  [Cid.CID_FILE_HAS_OFFLINE_REQ]: { userId: 9 },
  [Cid.CID_FILE_ADD_OFFLINE_REQ]: { fromUserId: 9, toUserId: 8, taskId: 't', fileName: 'f', fileSize: 1 },
  [Cid.CID_FILE_DEL_OFFLINE_REQ]: { fromUserId: 9, toUserId: 8, taskId: 't' },
  [Cid.CID_FILE_REQUEST]: { fromUserId: 9, toUserId: 8, fileName: 'f', fileSize: 1, transMode: 1 },
};

/** The failure answer: the command's response, for the session user, result 1 where there is one, no content. */
function assertFailure(conn: TestConn, cid: number, seqNum: number): void {
  const answer = commandById(cid)!.responseId;
  if (answer === undefined) {
    assert.equal(conn.sent.length, 0, `0x${cid.toString(16)} has no answer`);
    return;
  }
  const sent = conn.only();
  conn.sent.length = 0;
  assert.deepEqual([sent.commandId, sent.seqNum], [answer, seqNum], `answer of 0x${cid.toString(16)}`);
  const m = sent.message;
  if ('userId' in m) assert.equal(m.userId, UID);
  if ('resultCode' in m) assert.equal(m.resultCode, 1);
  for (const list of ['userInfoList', 'contactSessionList', 'userList', 'deptList', 'groupInfoList', 'groupVersionList', 'msgList', 'unreadinfoList', 'offlineFileList']) {
    if (list in m) assert.deepEqual(m[list], [], `${list} of 0x${cid.toString(16)}`);
  }
}

async function runAll(a: TestAccess, skip: ReadonlySet<number> = new Set()): Promise<void> {
  for (const [cid, handler] of entries) {
    if (skip.has(cid)) continue;
    const conn = new TestConn(UID, IOS);
    const req = request(cid, requests[cid]!);
    await handler(a.ctx, conn, req);
    assertFailure(conn, cid, req.header.seqNum);
  }
  assert.equal(a.deliveries.length, 0, 'a failure is told to nobody');
}

let fx: DbProxyFixture;
/** A db-proxy client for contexts whose db() is never called (refusals answer without asking). */
let spare: PduClient;
before(async () => {
  fx = await startTestDbProxy();
  spare = await fx.connect();
});
after(() => fx.close());

test('every command has a request here', () => {
  assert.deepEqual(entries.map(([cid]) => cid).filter((cid) => !requests[cid]), []);
});

test('db-proxy stopped: every request is answered with an explicit failure', async () => {
  const client = await fx.connect();
  const closed = new Promise((resolve) => client.once('close', resolve));
  await fx.proxy.close();
  await closed;
  await runAll(createTestAccess(client), new Set([Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST]));
});

test('db-proxy silent: requests are answered with a failure when they time out', async () => {
  const accepted: net.Socket[] = [];
  const silent = net.createServer((socket) => void accepted.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const client = await PduClient.connect({ port: (silent.address() as net.AddressInfo).port, heartbeatIntervalMs: 0 });
  const a = createTestAccess(client, 100);
  const started = Date.now();
  await runAll(a, new Set([Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, Cid.CID_FILE_REQUEST]));
  assert.ok(Date.now() - started >= 100);
  client.destroy();
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

test('the refusal of every command with an answer sends that answer', () => {
  const a = createTestAccess(spare);
  for (const [cid, , fail] of entries) {
    if (commandById(cid)!.responseId === undefined) {
      assert.equal(fail, undefined, `0x${cid.toString(16)} has no answer to refuse with`);
      continue;
    }
    assert.ok(fail, `0x${cid.toString(16)} has a refusal`);
    const conn = new TestConn(UID, IOS);
    const req = request(cid, requests[cid]!);
    fail(conn, req, new Error('handler failed'), a.ctx);
    if (cid === Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST) {
      assert.deepEqual(conn.only().message, { userId: UID, userStatList: [] });
      continue;
    }
    assertFailure(conn, cid, req.header.seqNum);
  }
});

test('a message whose db-proxy request got no answer is not acked as "not stored": the connection is closed, whatever the client asked for', async () => {
  const accepted: net.Socket[] = [];
  const silent = net.createServer((socket) => void accepted.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const client = await PduClient.connect({ port: (silent.address() as net.AddressInfo).port, heartbeatIntervalMs: 0 });
  const a = createTestAccess(client, 100);
  const [, handler] = message.find(([cid]) => cid === Cid.CID_MSG_DATA)!;
  for (const caps of [[], [ClientCap.REFUSAL_ACK]]) {
    const conn = new TestConn(UID, IOS, caps);
    await handler(a.ctx, conn, request(Cid.CID_MSG_DATA, { fromUserId: UID, toSessionId: 8, msgId: 0, createTime: 0, msgType: 1, msgData: Buffer.from('maybe stored') }));
    assert.deepEqual(conn.sent, [], `no ack (caps ${caps.join() || 'none'}): any msg_id would be a guess`);
    assert.equal(conn.session, null, 'the connection was closed');
  }
  assert.deepEqual(a.ctx.messageStats, { refusedAnswered: 0, refusedUnanswered: 0, outcomeUnknown: 2 });
  client.destroy();
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});
