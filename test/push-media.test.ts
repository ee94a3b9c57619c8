/**
 * End to end, real processes in-process:
 * - push: access server → push-server → the TLS HTTP/2 APNs and FCM
 *   stand-ins (push-server/fake-providers.ts), for phones that registered a
 *   device token and went away without logging out; a phone that logged out
 *   gets nothing more;
 * - media: GET /msg_server at a route-server names msfs (msfsPrior), an
 *   Android client uploads a PNG there as TeamTalk's app does and sends the
 *   URL in TeamTalk's picture form, sealed; the receiver opens it and
 *   downloads the same bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import pino from 'pino';
import { loadConfig as loadMsfsConfig } from '../msfs/config.ts';
import { startMsfs } from '../msfs/server.ts';
import { androidReads, androidUpload } from '../msfs/teamtalk-clients.ts';
import { exchange } from '../msfs/test-kit.ts';
import { Cid } from '../proto/commands.ts';
import { MsgType } from '../proto/conversation.ts';
import type { IM } from '../proto/messages.ts';
import type { PduClient } from '../proto/client.ts';
import { decryptText, encryptText } from '../proto/text-crypto.ts';
import { loadConfig as loadPushConfig } from '../push-server/config.ts';
import { startFakes, TEST_TOPIC, type FakeService, type Seen } from '../push-server/fake-providers.ts';
import { startPushServer } from '../push-server/push-server.ts';
import { nextPush, PC, startAccessFixture, waitFor, whenClosed } from './helpers/access-server.ts';
import { startTestRouteServer } from './helpers/route-server.ts';

/** IM.BaseDefine.ClientType: CLIENT_TYPE_IOS, CLIENT_TYPE_ANDROID. */
const IOS = 0x11;
const ANDROID = 0x12;
/** An APNs device token as TeamTalk's iOS app sends it: 64 hex digits. */
const IOS_TOKEN = 'c0ffee42'.repeat(8);
/** An FCM registration token. */
const FCM_TOKEN = 'dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_pushmedia.test';
/** TeamTalk's apps wrap a picture's URL in these. */
const PIC_START = '&$#@~^@[{:';
const PIC_END = ':}]&$~@#@';

/** Teardown steps, run last-in first-out once the test is over, each awaited. */
function teardown(t: TestContext): (() => unknown)[] {
  const steps: (() => unknown)[] = [];
  t.after(async () => {
    for (const step of steps.reverse()) await step();
  });
  return steps;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends `text` sealed as TeamTalk's apps seal it; resolves once it is stored (acked with an id). */
async function sendText(from: PduClient, fromUserId: number, to: number, text: string): Promise<number> {
  const msg: IM.Message.IIMMsgData = { fromUserId, toSessionId: to, msgId: 0, createTime: 0, msgType: MsgType.SINGLE_TEXT, msgData: encryptText(text) };
  const ack = (await from.request(Cid.CID_MSG_DATA, msg)).message as IM.Message.IMMsgDataAck;
  assert.ok(ack.msgId > 0, `message to ${to} stored`);
  return ack.msgId;
}

const atApns = (apns: FakeService, token: string): Seen[] => apns.seen.filter((s) => s.path === `/3/device/${token}`);
const fcmMessage = (s: Seen) => s.json.message as { token?: string; notification?: { body?: string }; data?: Record<string, string>; android?: Record<string, unknown> };
const atFcm = (fcm: FakeService, token: string): Seen[] => fcm.seen.filter((s) => fcmMessage(s).token === token);

test('push: phones that left without logging out get "<nick>:<text>" through APNs and FCM; a phone that logged out gets nothing more', async (t) => {
  const undo = teardown(t);
  const fakes = await startFakes();
  undo.push(() => fakes.close());
  const push = await startPushServer(loadPushConfig(fakes.env));
  undo.push(() => push.close());
  const fx = await startAccessFixture();
  undo.push(() => fx.close());
  const access = await fx.startServer({ PUSH_SERVERS: `127.0.0.1:${push.address.port}` });
  // user1: a PC that sends; user2: an iPhone; user3: an Android phone.
  await fx.seedUsers(3);
  await waitFor(() => push.stats.links === 1, 3000, 'the access server linked to push-server');

  // Phones log in as TeamTalk's apps do (no caps), register their tokens, then drop the connection.
  const iphone = await fx.login(access, 2, IOS, { caps: [] });
  const tokenRsp = (await iphone.request(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 2, deviceToken: IOS_TOKEN, clientType: IOS })).message as IM.Login.IMDeviceTokenRsp;
  assert.equal(tokenRsp.userId, 2);
  const android = await fx.login(access, 3, ANDROID, { caps: [] });
  await android.request(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 3, deviceToken: FCM_TOKEN, clientType: ANDROID });
  iphone.destroy();
  android.destroy();
  await waitFor(() => access.sessions.conns(2).length + access.sessions.conns(3).length === 0, 3000, 'both phones gone');

  const pc = await fx.login(access, 1, PC);
  const t0 = Math.floor(Date.now() / 1000);
  await sendText(pc, 1, 2, 'see you at 8');
  await sendText(pc, 1, 3, '明天见');
  await waitFor(() => atApns(fakes.apns, IOS_TOKEN).length === 1 && atFcm(fakes.fcm, FCM_TOKEN).length === 1, 5000, 'a push at APNs and one at FCM');
  const data = JSON.stringify({ msg_type: MsgType.SINGLE_TEXT, from_id: 1 });

  // The stand-ins record a request only once its credentials check out (APNs: the ES256 provider JWT,
  // topic, push type; FCM: path and an OAuth token they issued); anything else goes to `problems`.
  const a = atApns(fakes.apns, IOS_TOKEN)[0]!;
  assert.deepEqual(a.json, { aps: { alert: 'nick 1:see you at 8', badge: 1, sound: 'bingbong.aiff' }, custom: data });
  assert.equal(a.headers['apns-topic'], TEST_TOPIC);
  assert.equal(a.headers['apns-push-type'], 'alert');
  assert.equal(a.headers['apns-priority'], '10', 'a normal push: no PC of user2 is on');
  assert.equal(a.headers['content-type'], 'application/json');
  const expiration = Number(a.headers['apns-expiration']);
  assert.ok(expiration >= t0 + 3600 - 5 && expiration <= t0 + 3600 + 60, `apns-expiration ${expiration} is about an hour ahead`);

  const f = atFcm(fakes.fcm, FCM_TOKEN)[0]!;
  assert.equal(f.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(fcmMessage(f), {
    token: FCM_TOKEN,
    notification: { body: 'nick 1:明天见' },
    data: { custom: data, push_count: '1' },
    android: { priority: 'HIGH', ttl: '3600s', notification: { sound: 'default', notification_count: 1 } },
  });
  assert.deepEqual([fakes.apns.problems, fakes.fcm.problems], [[], []], 'nothing a real provider would refuse');

  // The iPhone comes back and sets its token again: pushed while logged in (the token works)...
  const back = await fx.login(access, 2, IOS, { caps: [] });
  await back.request(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 2, deviceToken: IOS_TOKEN, clientType: IOS });
  await sendText(pc, 1, 2, 'are you there');
  await waitFor(() => atApns(fakes.apns, IOS_TOKEN).length === 2, 5000, 'the push to the phone that came back');
  assert.equal((atApns(fakes.apns, IOS_TOKEN)[1]!.json.aps as { alert?: string }).alert, 'nick 1:are you there');

  // ...then logs out: its token is cleared, and a message to it is pushed nowhere.
  const closed = whenClosed(back);
  const out = (await back.request(Cid.CID_LOGIN_REQ_LOGINOUT, {})).message as IM.Login.IMLogoutRsp;
  assert.equal(out.resultCode, 0);
  await closed;
  await sendText(pc, 1, 2, 'after logout');
  // Positive control, sent after it on the same path: the Android phone, whose token stays.
  await sendText(pc, 1, 3, 'control');
  await waitFor(() => atFcm(fakes.fcm, FCM_TOKEN).some((s) => fcmMessage(s).notification?.body === 'nick 1:control'), 5000, 'the control push at FCM');
  await sleep(1500);
  assert.equal(atApns(fakes.apns, IOS_TOKEN).length, 2, 'no push to the logged-out iPhone');
  const all = [...fakes.apns.seen, ...fakes.fcm.seen].map((s) => JSON.stringify(s.json));
  assert.ok(!all.some((j) => j.includes('after logout')), 'the message after logout reached no provider');
  assert.equal(push.stats.received, 4, 'push-server was given 4 tokens: the logged-out user\'s token was not even sent');
  assert.deepEqual([push.stats.sent.apns, push.stats.sent.fcm], [2, 2]);
});

/** A real PNG (valid chunks, CRCs and zlib data): `size`×`size` RGB pixels in a gradient. */
function makePng(size = 8): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, deflate, no filter method, no interlace
  const rows = Buffer.alloc(size * (1 + 3 * size));
  for (let y = 0; y < size; y++) {
    const at = y * (1 + 3 * size);
    rows[at] = 0; // filter: none
    for (let x = 0; x < size; x++) rows.set([x * 32, y * 32, 128], at + 1 + 3 * x);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

test('media: msfsPrior from /msg_server, an Android upload, the URL sent sealed in TeamTalk\'s picture form, downloaded intact by the receiver', async (t) => {
  const undo = teardown(t);
  const root = await mkdtemp(join(tmpdir(), 'push-media-msfs-'));
  undo.push(() => rm(root, { recursive: true, force: true }));
  const msfs = await startMsfs(loadMsfsConfig({ MSFS_HOST: '127.0.0.1', MSFS_PORT: '0', MSFS_ROOT: root }), pino({ level: 'silent' }));
  undo.push(() => msfs.close());
  const route = await startTestRouteServer({ ROUTE_MSFS_URL: msfs.publicUrl });
  undo.push(() => route.close());
  const fx = await startAccessFixture();
  undo.push(() => fx.close());
  const access = await fx.startServer({ ROUTE_SERVERS: `127.0.0.1:${route.address.port}` });
  assert.ok(await access.route.whenConnected(3000), 'the access server linked to route-server');
  await waitFor(() => route.presence.serverCount === 1, 3000, 'the access server registered');
  await fx.seedUsers(2);

  // Login balancing: which access server, and where images go.
  const res = await fetch(`http://127.0.0.1:${route.httpAddress.port}/msg_server`);
  assert.equal(res.status, 200);
  const lb = (await res.json()) as { code: number; priorIP: string; port: string; msfsPrior: string };
  assert.equal(lb.code, 0);
  assert.deepEqual([lb.priorIP, Number(lb.port)], ['127.0.0.1', access.address.port]);
  assert.equal(lb.msfsPrior, msfs.publicUrl);
  const msfsAt = new URL(lb.msfsPrior);
  assert.equal(msfsAt.hostname, '127.0.0.1');

  const sender = await fx.login(access, 1, ANDROID, { caps: [] });
  const receiver = await fx.login(access, 2, IOS, { caps: [] });

  // The upload, byte for byte as TeamTalk's Android app sends it (PNG bytes under the photo's .jpg name).
  const image = makePng();
  const port = Number(msfsAt.port);
  const up = await exchange(port, androidUpload(port, image, 'IMG_20240301_093000.jpg').whole);
  assert.equal(up.status, 200);
  assert.equal((JSON.parse(up.body.toString('utf8')) as { error_code: number }).error_code, 0);
  const url = androidReads(up);
  assert.ok(url.startsWith(lb.msfsPrior), `upload answer url ${url} is under msfsPrior`);

  const incoming = nextPush(receiver, Cid.CID_MSG_DATA);
  const msgId = await sendText(sender, 1, 2, `${PIC_START}${url}${PIC_END}`);
  const got = (await incoming).message as IM.Message.IMMsgData;
  assert.deepEqual([got.fromUserId, got.toSessionId, got.msgId, got.msgType], [1, 2, msgId, MsgType.SINGLE_TEXT]);
  const text = decryptText(got.msgData);
  assert.ok(text !== null, 'msg_data is in TeamTalk\'s sealed form');
  const start = text.indexOf(PIC_START);
  const end = text.indexOf(PIC_END, start);
  assert.ok(start >= 0 && end > start, `a picture in ${text}`);
  const link = text.slice(start + PIC_START.length, end);
  assert.equal(link, url);

  const download = await fetch(link);
  assert.equal(download.status, 200);
  assert.equal(download.headers.get('content-type'), 'image/png');
  assert.ok(Buffer.from(await download.arrayBuffer()).equals(image), 'the very bytes uploaded');
});
