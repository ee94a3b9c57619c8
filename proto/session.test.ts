/**
 * ImSession against a fake access server (net.createServer speaking our own
 * codec) and a fake route-server HTTP endpoint.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { Cid, decodeBody, encodeBody } from './commands.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { encodePdu } from './header.ts';
import type { IM } from './messages.ts';
import { ImSession, md5hex, MsgType, SessionType, type IncomingMessage } from './session.ts';
import { decryptText, encryptText } from './text-crypto.ts';

interface Seen {
  commandId: number;
  seqNum: number;
  message: Record<string, unknown>;
}

const userInfo = (userId: number): IM.BaseDefine.IUserInfo => ({
  userId,
  userGender: 0,
  userNickName: `user ${userId}`,
  avatarUrl: '',
  departmentId: 1,
  email: '',
  userRealName: '',
  userTel: '',
  userDomain: `u${userId}`,
  status: 0,
});

/**
 * A fake access server: `answer` decides the reply to each PDU (null: none).
 * It accepts every capability asked for, unless `ignoreCaps` (as a TeamTalk msg_server).
 */
async function fakeServer(answer: (pdu: Seen, push: (cid: number, msg: object) => void) => [number, object] | null, { ignoreCaps = false } = {}) {
  const seen: Seen[] = [];
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    const push = (cid: number, msg: object): void => void socket.write(encodePdu({ commandId: cid }, encodeBody(cid, msg)));
    socket.on('data', (chunk) => {
      for (const { header, body } of decoder.push(chunk)) {
        const pdu = { commandId: header.commandId, seqNum: header.seqNum, message: decodeBody(header.commandId, body) as unknown as Record<string, unknown> };
        seen.push(pdu);
        const caps = pdu.commandId === Cid.CID_EXT_CLIENT_CAPS_REQ && !ignoreCaps;
        const reply: [number, object] | null = caps ? [Cid.CID_EXT_CLIENT_CAPS_RSP, { caps: pdu.message.caps }] : answer(pdu, push);
        if (reply) socket.write(encodePdu({ commandId: reply[0], seqNum: header.seqNum }, encodeBody(reply[0], reply[1])));
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { seen, port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

async function fakeRoute(body: object) {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/msg_server' ? body : { code: 9 }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => server.close() };
}

const loginOk = (): [number, object] => [Cid.CID_LOGIN_RES_USERLOGIN, { serverTime: 1, resultCode: 0, onlineStatus: 1, userInfo: userInfo(1) }];

test('login through GET /msg_server, send with ack, receive, kick', async (t) => {
  const fake = await fakeServer((pdu, push) => {
    if (pdu.commandId === Cid.CID_LOGIN_REQ_USERLOGIN) return loginOk();
    if (pdu.commandId === Cid.CID_MSG_DATA) {
      const m = pdu.message as unknown as IM.Message.IMMsgData;
      if (m.toSessionId === 3) return [Cid.CID_MSG_DATA_ACK, { userId: 1, sessionId: 3, msgId: 0, sessionType: 1 }];
      // A push on the same seq must not be taken for the answer.
      push(Cid.CID_MSG_DATA, { fromUserId: 2, toSessionId: 1, msgId: 9, createTime: 5, msgType: MsgType.SINGLE_TEXT, msgData: Buffer.from('héllo') });
      return [Cid.CID_MSG_DATA_ACK, { userId: 1, sessionId: m.toSessionId, msgId: 41, sessionType: 1 }];
    }
    if (pdu.commandId === Cid.CID_MSG_UNREAD_CNT_REQUEST) return [Cid.CID_MSG_UNREAD_CNT_RESPONSE, { userId: 1, totalCnt: 4, unreadinfoList: [] }];
    if (pdu.commandId === Cid.CID_MSG_LIST_REQUEST) {
      const r = pdu.message as unknown as IM.Message.IMGetMsgListReq;
      return [Cid.CID_MSG_LIST_RESPONSE, { userId: 1, sessionType: r.sessionType, sessionId: r.sessionId, msgIdBegin: r.msgIdBegin, msgList: [] }];
    }
    if (pdu.commandId === Cid.CID_LOGIN_REQ_LOGINOUT) {
      push(Cid.CID_LOGIN_KICK_USER, { userId: 1, kickReason: 1 });
      return [Cid.CID_LOGIN_RES_LOGINOUT, { resultCode: 0 }];
    }
    return null;
  });
  const route = await fakeRoute({ code: 0, msg: '', priorIP: '127.0.0.1', backupIP: '127.0.0.1', port: String(fake.port), discovery: '' });
  t.after(() => (fake.close(), route.close()));

  const s = await ImSession.login({ routeUrl: route.url, userName: 'alice', password: 'secret', clientType: 0x12 });
  const login = fake.seen[0]!.message;
  assert.equal(login.password, md5hex('secret'));
  assert.equal(login.userName, 'alice');
  assert.equal(login.clientType, 0x12);
  assert.equal(s.userId, 1);
  assert.deepEqual([...(await s.caps)], ['refusal-ack']);
  assert.deepEqual([fake.seen[1]!.commandId, fake.seen[1]!.message.caps], [Cid.CID_EXT_CLIENT_CAPS_REQ, ['refusal-ack']], 'asked right after login');

  const got = once(s, 'message') as Promise<[IncomingMessage]>;
  assert.equal(await s.sendText(2, 'hi'), 41);
  const [m] = await got;
  assert.deepEqual([m.fromUserId, m.msgId, m.text, m.group], [2, 9, 'héllo', false]);
  assert.equal(await s.sendText(3, 'refused'), 0);

  const sent = fake.seen.find((p) => p.commandId === Cid.CID_MSG_DATA)!.message;
  assert.equal(decryptText(sent.msgData as Uint8Array), 'hi', 'sealed as TeamTalk\'s apps seal it, by default');
  assert.equal(sent.fromUserId, 1);
  assert.equal((await s.unread()).totalCnt, 4);
  assert.deepEqual(await s.history(2, SessionType.SINGLE, 30, 5), []);
  const list = fake.seen.find((p) => p.commandId === Cid.CID_MSG_LIST_REQUEST)!.message;
  assert.deepEqual([list.sessionId, list.msgIdBegin, list.msgCnt], [2, 30, 5]);
  const ack = fake.seen.find((p) => p.commandId === Cid.CID_MSG_DATA_ACK)!.message;
  assert.deepEqual([ack.userId, ack.sessionId, ack.msgId, ack.sessionType], [1, 2, 9, 1]);

  const kicked = once(s, 'kicked');
  await s.logout();
  assert.equal((await kicked)[0].kickReason, 1);
});

test('text in TeamTalk\'s sealed form: sent by default, opened whatever the session sends; plain and voice stay as they are', async (t) => {
  const fake = await fakeServer((pdu, push) => {
    if (pdu.commandId === Cid.CID_LOGIN_REQ_USERLOGIN) return loginOk();
    if (pdu.commandId !== Cid.CID_MSG_DATA) return null;
    const m = pdu.message as unknown as IM.Message.IMMsgData;
    // Echo what arrived back as a message from user 2, then ack it.
    push(Cid.CID_MSG_DATA, { fromUserId: 2, toSessionId: 1, msgId: 9, createTime: 5, msgType: m.msgType, msgData: m.msgData });
    return [Cid.CID_MSG_DATA_ACK, { userId: 1, sessionId: m.toSessionId, msgId: 41, sessionType: 1 }];
  });
  t.after(() => fake.close());
  const sealed = await ImSession.login({ host: '127.0.0.1', port: fake.port, userName: 'alice', password: 'secret' });
  t.after(() => sealed.destroy());
  const got = once(sealed, 'message') as Promise<[IncomingMessage]>;
  assert.equal(await sealed.sendText(2, '你好 TeamTalk'), 41);
  const wire = fake.seen.find((p) => p.commandId === Cid.CID_MSG_DATA)!.message as unknown as IM.Message.IMMsgData;
  assert.equal(Buffer.from(wire.msgData).toString('ascii'), encryptText('你好 TeamTalk').toString('ascii'));
  const [m] = await got;
  assert.equal(m.text, '你好 TeamTalk');
  assert.deepEqual(m.data, encryptText('你好 TeamTalk'));

  const plain = await ImSession.login({ host: '127.0.0.1', port: fake.port, userName: 'bob', password: 'secret', textForm: 'plain' });
  t.after(() => plain.destroy());
  const texts: string[] = [];
  plain.on('message', (x: IncomingMessage) => texts.push(x.text));
  await plain.sendText(2, 'plain words');
  await plain.send(2, MsgType.SINGLE_TEXT, encryptText('sealed by an app'));
  await plain.send(2, MsgType.SINGLE_AUDIO, encryptText('voice bytes are not opened'));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(texts, ['plain words', 'sealed by an app', encryptText('voice bytes are not opened').toString('ascii')]);
});

test('capabilities: none asked with caps [], none in force when the server ignores the request', async (t) => {
  const fake = await fakeServer((pdu) => (pdu.commandId === Cid.CID_LOGIN_REQ_USERLOGIN ? loginOk() : null), { ignoreCaps: true });
  t.after(() => fake.close());
  const classic = await ImSession.login({ port: fake.port, userName: 'alice', password: 'x', caps: [], requestTimeoutMs: 300 });
  assert.equal((await classic.caps).size, 0);
  await classic.unread().catch(() => undefined); // unanswered, but once it times out the fake has long seen what came before
  assert.equal(fake.seen.filter((p) => p.commandId === Cid.CID_EXT_CLIENT_CAPS_REQ).length, 0, 'a classic session sends no request');
  classic.destroy();
  const s = await ImSession.login({ port: fake.port, userName: 'alice', password: 'x', requestTimeoutMs: 300 });
  const started = Date.now();
  assert.equal((await s.caps).size, 0, 'no answer: none in force');
  assert.ok(Date.now() - started < 2000, 'waited at most the request timeout');
  assert.equal(fake.seen.filter((p) => p.commandId === Cid.CID_EXT_CLIENT_CAPS_REQ).length, 1);
  s.destroy();
});

test('a refused login rejects with IM_ERR_LOGIN_REFUSED and its result code', async (t) => {
  const fake = await fakeServer(() => [Cid.CID_LOGIN_RES_USERLOGIN, { serverTime: 1, resultCode: 6, resultString: 'wrong user name or password' }]);
  t.after(() => fake.close());
  await assert.rejects(ImSession.login({ port: fake.port, userName: 'alice', password: 'bad' }), { code: 'IM_ERR_LOGIN_REFUSED', resultCode: 6 });
});

test('GET /msg_server code 1 or 2 is a refused login', async (t) => {
  for (const body of [{ code: 1, msg: 'no msg server' }, { code: 2, msg: 'all msg servers are full' }]) {
    const route = await fakeRoute(body);
    t.after(() => route.close());
    await assert.rejects(ImSession.login({ routeUrl: route.url, userName: 'a', password: 'b' }), { code: 'IM_ERR_LOGIN_REFUSED' });
  }
});

test('heartbeats every heartbeatIntervalMs', async (t) => {
  const fake = await fakeServer((pdu) => (pdu.commandId === Cid.CID_LOGIN_REQ_USERLOGIN ? loginOk() : null));
  t.after(() => fake.close());
  const s = await ImSession.login({ port: fake.port, userName: 'alice', password: 'x', heartbeatIntervalMs: 20 });
  // Three heartbeats take 60 ms; allow a loaded machine far more, but none come without the timer.
  const beats = (): number => fake.seen.filter((p) => p.commandId === Cid.CID_OTHER_HEARTBEAT).length;
  const deadline = Date.now() + 2000;
  while (beats() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  assert.ok(beats() >= 3, `${beats()} heartbeats`);
});
