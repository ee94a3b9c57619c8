import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';
import type { IM } from '../proto/messages.ts';
import type { RunningAccessServer } from './access-server.ts';
import { loginRequest, MOBILE, nextPush, PC, startAccessFixture, waitFor, whenClosed, type AccessFixture } from '../test/helpers/access-server.ts';

let fx: AccessFixture;
let server: RunningAccessServer;

before(async () => {
  fx = await startAccessFixture();
  server = await fx.startServer();
  await fx.seedUsers(8);
});
after(() => fx.close());

test('login succeeds with the md5 of the password and returns the user', async () => {
  const c = await fx.connect(server);
  const res = await c.request(Cid.CID_LOGIN_REQ_USERLOGIN, loginRequest(1, PC));
  const body = res.message as IM.Login.IMLoginRes;
  assert.equal(res.commandId, Cid.CID_LOGIN_RES_USERLOGIN);
  assert.equal(body.resultCode, 0);
  assert.equal(body.onlineStatus, 1);
  assert.equal(body.userInfo?.userId, 1);
  assert.ok(body.serverTime > 0);
  assert.equal(server.sessions.conns(1).length, 1);
});

test('a wrong password is refused with DB_VALIDATE_FAILED and the connection closed', async () => {
  const c = await fx.connect(server);
  const closed = whenClosed(c);
  const res = await c.request(Cid.CID_LOGIN_REQ_USERLOGIN, loginRequest(2, PC, 'wrong'));
  assert.equal((res.message as IM.Login.IMLoginRes).resultCode, 6);
  await closed;
  await waitFor(() => server.server.size === 0 || server.sessions.conns(2).length === 0);
  assert.equal(server.sessions.conns(2).length, 0);
});

test('CID_MSG_DATA before login closes the connection and stores nothing', async () => {
  const c = await fx.connect(server);
  const closed = whenClosed(c);
  c.send(Cid.CID_MSG_DATA, { fromUserId: 3, toSessionId: 4, msgId: 0, createTime: 0, msgType: 1, msgData: Buffer.from('sneaky') });
  await closed;
  const [rows] = await fx.dbProxy.storage.pool.query('SELECT COUNT(*) AS n FROM IMRelationShip');
  assert.equal((rows as { n: number }[])[0]!.n, 0);
});

test('heartbeats are echoed with the same seq, before and after login', async () => {
  const c = await fx.connect(server);
  const echo = await c.request(Cid.CID_OTHER_HEARTBEAT, {}, { expect: Cid.CID_OTHER_HEARTBEAT });
  assert.equal(echo.commandId, Cid.CID_OTHER_HEARTBEAT);
  await c.request(Cid.CID_LOGIN_REQ_USERLOGIN, loginRequest(5, PC));
  const echo2 = await c.request(Cid.CID_OTHER_HEARTBEAT, {}, { expect: Cid.CID_OTHER_HEARTBEAT });
  assert.ok(echo2.header.seqNum > 0);
});

test('a duplicate login of the same class kicks and closes the old connection; other classes stay', async () => {
  const oldPc = await fx.login(server, 6, PC);
  const mobile = await fx.login(server, 6, MOBILE);
  const kicked = nextPush(oldPc, Cid.CID_LOGIN_KICK_USER);
  const closed = whenClosed(oldPc);
  const newPc = await fx.login(server, 6, PC);
  const kick = (await kicked).message as IM.Login.IMKickUser;
  assert.deepEqual({ userId: kick.userId, kickReason: kick.kickReason }, { userId: 6, kickReason: 1 });
  await closed;
  const time = await newPc.request(Cid.CID_MSG_TIME_REQUEST, {});
  assert.ok((time.message as IM.Message.IMClientTimeRsp).serverTime > 0);
  await mobile.request(Cid.CID_MSG_TIME_REQUEST, {});
  await waitFor(() => server.sessions.conns(6).length === 2, 2000, 'old PC session gone');
});

test('a mobile client kicks its PC session with CID_LOGIN_REQ_KICKPCCLIENT', async () => {
  const pc = await fx.login(server, 7, PC);
  const mobile = await fx.login(server, 7, MOBILE);
  const closed = whenClosed(pc);
  const res = await mobile.request(Cid.CID_LOGIN_REQ_KICKPCCLIENT, { userId: 7 });
  assert.equal((res.message as IM.Login.IMKickPCClientRsp).resultCode, 0);
  await closed;
});

test('logout is answered with result 0 and the connection closes', async () => {
  const c = await fx.login(server, 8, PC);
  const closed = whenClosed(c);
  const res = await c.request(Cid.CID_LOGIN_REQ_LOGINOUT, {});
  assert.equal((res.message as IM.Login.IMLogoutRsp).resultCode, 0);
  await closed;
  await waitFor(() => server.sessions.conns(8).length === 0, 2000, 'session gone');
});

test('no login within the deadline closes the connection', async () => {
  const quick = await fx.startServer({ ACCESS_LOGIN_TIMEOUT_MS: '300' });
  const c = await fx.connect(quick);
  const started = Date.now();
  await whenClosed(c, 3000);
  assert.ok(Date.now() - started >= 250);
});

test('over the connection cap a new connection is closed at once', async () => {
  const capped = await fx.startServer({ ACCESS_MAX_CONNECTIONS: '2' });
  const a = await fx.connect(capped);
  await fx.connect(capped);
  await new Promise((r) => setTimeout(r, 50));
  const third = await fx.connect(capped);
  await whenClosed(third, 1000);
  assert.equal(capped.server.stats.refusedOverCap, 1);
  const echo = await a.request(Cid.CID_OTHER_HEARTBEAT, {}, { expect: Cid.CID_OTHER_HEARTBEAT });
  assert.equal(echo.commandId, Cid.CID_OTHER_HEARTBEAT);
});

test('an oversized frame closes the connection', async () => {
  const small = await fx.startServer({ ACCESS_MAX_FRAME_BYTES: '2048' });
  const c = await fx.login(small, 3, PC);
  const closed = whenClosed(c);
  const header = encodePdu({ commandId: Cid.CID_MSG_DATA }, new Uint8Array(0));
  header.writeUInt32BE(1_000_000, 0);
  c.sendRaw(header);
  await closed;
});

test('an undecodable body closes the connection; an unknown command does not', async () => {
  const c = await fx.login(server, 4, PC);
  c.sendRaw(encodePdu({ commandId: 0x03ff }, new Uint8Array([1, 2, 3])));
  const time = await c.request(Cid.CID_MSG_TIME_REQUEST, {});
  assert.equal(time.commandId, Cid.CID_MSG_TIME_RESPONSE);
  const closed = whenClosed(c);
  c.sendRaw(encodePdu({ commandId: Cid.CID_MSG_READ_ACK }, new Uint8Array([0xff, 0xff, 0xff])));
  await closed;
});
