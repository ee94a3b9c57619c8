import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { addressList } from '../common/cluster-auth.ts';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { loadConfig, type PushServerConfig } from './config.ts';
import { startFakes, type Fakes, type FakeService } from './fake-providers.ts';
import { startPushServer, type RunningPushServer } from './push-server.ts';

const IOS = 0x11;
const ANDROID = 0x12;
const WINDOWS = 0x01;
const FLASH = '张三:晚上一起吃饭吗？🍜';
const DATA = JSON.stringify({ msg_type: 1, from_id: 7 });

let fakes: Fakes;
let apns: FakeService;
let fcm: FakeService;
let fcmIssued: string[];
let env: Record<string, string>;
let tokenSeq = 0;
/** A fresh 64-hex-digit iOS token (or an FCM-looking one), unique to the test. */
const iosToken = (): string => (++tokenSeq).toString(16).padStart(64, 'a');
const fcmToken = (): string => `fcm-token:${++tokenSeq}_APA91b`;

before(async () => {
  fakes = await startFakes();
  ({ apns, fcm, fcmIssued, env } = fakes);
});
after(() => fakes.close());

async function start(t: TestContext, over: Record<string, string> = {}, cfg: Partial<PushServerConfig> = {}): Promise<RunningPushServer> {
  const server = await startPushServer({ ...loadConfig({ ...env, ...over }), ...cfg });
  t.after(() => server.close());
  return server;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A TeamTalk-style peer: plain PDU link, no handshake. */
async function connect(t: TestContext, port: number, localAddress?: string) {
  const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
  socket.on('error', () => undefined);
  t.after(() => socket.destroy());
  const decoder = new FrameDecoder();
  const frames: Pdu[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => frames.push(...decoder.push(c)));
  socket.on('close', () => (closed = true));
  await once(socket, 'connect');
  return {
    frames,
    get closed() {
      return closed;
    },
    send: (commandId: number, body: Uint8Array, seqNum = 0) => socket.write(encodePdu({ commandId, seqNum }, body)),
    write: (bytes: Uint8Array) => socket.write(bytes),
    async answer(seqNum: number, ms = 5000) {
      await until(() => frames.some((f) => f.header.commandId === Cid.CID_OTHER_PUSH_TO_USER_RSP && f.header.seqNum === seqNum), ms, `answer ${seqNum}`);
      const f = frames.find((x) => x.header.commandId === Cid.CID_OTHER_PUSH_TO_USER_RSP && x.header.seqNum === seqNum)!;
      return decodeBody(Cid.CID_OTHER_PUSH_TO_USER_RSP, f.body).pushResultList.map((r) => [r.userToken, r.resultCode]);
    },
  };
}

/** The body access-server/push.ts sends. */
function request(tokens: { type: number; token: string; count?: number; silent?: boolean }[], flash = FLASH, data = DATA): Uint8Array {
  const userTokenList = tokens.map((t, i) => ({ userId: 100 + i, userType: t.type, token: t.token, pushCount: t.count ?? 1, pushType: t.silent ? 2 : 1 }));
  return encodeBody(Cid.CID_OTHER_PUSH_TO_USER_REQ, { flash, data, userTokenList });
}

const seenBy = (s: FakeService, token: string) => s.seen.filter((x) => x.path.endsWith(token) || (x.json.message as { token?: string } | undefined)?.token === token);

test('a request as access-server sends it reaches APNs and FCM intact and is answered per token with its seq', async (t) => {
  const server = await start(t);
  const c = await connect(t, server.address.port);
  const [ios, android, pc] = [iosToken(), fcmToken(), 'pc-token'];
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: ios, count: 3 }, { type: ANDROID, token: android, count: 4 }, { type: WINDOWS, token: pc }]), 4242);
  assert.deepEqual(await c.answer(4242), [[ios, 0], [android, 0], [pc, 1]]);

  const [a] = seenBy(apns, ios);
  assert.equal(a!.path, `/3/device/${ios}`);
  assert.deepEqual(a!.json, { aps: { alert: FLASH, badge: 3, sound: 'bingbong.aiff' }, custom: DATA });
  assert.equal(a!.headers['apns-priority'], '10');
  const [f] = seenBy(fcm, android);
  const m = f!.json.message as Record<string, Record<string, unknown>>;
  assert.deepEqual(m.notification, { body: FLASH });
  assert.deepEqual(m.data, { custom: DATA, push_count: '4' });
  assert.deepEqual([apns.problems, fcm.problems], [[], []]);
  assert.deepEqual([server.stats.sent.apns, server.stats.sent.fcm, server.stats.unsupported, server.stats.failed], [1, 1, 1, 1]);

  c.send(Cid.CID_OTHER_HEARTBEAT, new Uint8Array(0), 9);
  await until(() => c.frames.some((x) => x.header.commandId === Cid.CID_OTHER_HEARTBEAT && x.header.seqNum === 9), 2000, 'heartbeat echo');
  const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
  assert.match(metrics, /^push_apns_sent_total 1$/m);
  assert.match(metrics, /^push_fcm_sent_total 1$/m);
  assert.match(metrics, /^push_queue_depth 0$/m);
});

test('a silent push (push_type 2) is a badge only on APNs and data only on FCM', async (t) => {
  const server = await start(t);
  const c = await connect(t, server.address.port);
  const [ios, android] = [iosToken(), fcmToken()];
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: ios, count: 5, silent: true }, { type: ANDROID, token: android, silent: true }]), 1);
  assert.deepEqual(await c.answer(1), [[ios, 0], [android, 0]]);
  assert.deepEqual(seenBy(apns, ios)[0]!.json, { aps: { badge: 5 }, custom: DATA });
  assert.equal(seenBy(apns, ios)[0]!.headers['apns-priority'], '5');
  const m = seenBy(fcm, android)[0]!.json.message as Record<string, unknown>;
  assert.equal(m.notification, undefined);
  assert.deepEqual(m.data, { custom: DATA, push_count: '1' });
});

test('503 and 429 are retried, Retry-After honoured; dead tokens and exhausted retries are answered failed', async (t) => {
  const server = await start(t);
  const c = await connect(t, server.address.port);
  const [flaky, slow, gone, bad, down, unreg] = [iosToken(), iosToken(), iosToken(), iosToken(), iosToken(), fcmToken()];
  apns.script.set(flaky, [{ status: 503, body: { reason: 'ServiceUnavailable' } }]);
  apns.script.set(slow, [{ status: 429, headers: { 'retry-after': '1' }, body: { reason: 'TooManyRequests' } }]);
  apns.script.set(gone, [{ status: 410, body: { reason: 'Unregistered' } }]);
  apns.script.set(bad, [{ status: 400, body: { reason: 'BadDeviceToken' } }]);
  apns.script.set(down, [1, 2, 3].map(() => ({ status: 500, body: { reason: 'InternalServerError' } })));
  const fcmError = { error: { status: 'NOT_FOUND', details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }] } };
  fcm.script.set(unreg, [{ status: 404, body: fcmError }]);
  const t0 = Date.now();
  const tokens = [flaky, slow, gone, bad, down, 'zz-not-hex'].map((token) => ({ type: IOS, token }));
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([...tokens, { type: ANDROID, token: unreg }]), 77);
  const results = await c.answer(77);
  assert.deepEqual(results.map((r) => r[1]), [0, 0, 1, 1, 1, 1, 1]);
  assert.ok(Date.now() - t0 >= 950, 'waited out Retry-After: 1');
  assert.equal(seenBy(apns, flaky).length, 2);
  assert.equal(seenBy(apns, down).length, 3, 'PUSH_MAX_ATTEMPTS bounds the attempts');
  const s = server.stats;
  assert.deepEqual([s.dead, s.gaveUp, s.retries, s.sent.apns], [4, 1, 4, 2]);
});

test('a full queue refuses at once instead of growing', async (t) => {
  const server = await start(t, { PUSH_QUEUE_MAX_ITEMS: '2' });
  const c = await connect(t, server.address.port);
  const [h1, h2, late] = [iosToken(), iosToken(), iosToken()];
  apns.script.set(h1, ['hold']);
  apns.script.set(h2, ['hold']);
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: h1 }, { type: IOS, token: h2 }]), 1);
  await until(() => apns.heldCount === 2, 3000, 'two held pushes');
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: late }]), 2);
  assert.deepEqual(await c.answer(2), [[late, 1]]);
  assert.equal(seenBy(apns, late).length, 0);
  const metrics = await (await fetch(`http://127.0.0.1:${server.opsPort}/metrics`)).text();
  assert.match(metrics, /^push_refused_total 1$/m);
  assert.match(metrics, /^push_in_flight 2$/m);
  apns.release();
  assert.deepEqual(await c.answer(1), [[h1, 0], [h2, 0]]);
});

test('FCM: the access token is reused, and fetched anew when FCM answers 401', async (t) => {
  const server = await start(t);
  const c = await connect(t, server.address.port);
  const [one, two, three] = [fcmToken(), fcmToken(), fcmToken()];
  const before = fcmIssued.length;
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: ANDROID, token: one }, { type: ANDROID, token: two }]), 1);
  assert.deepEqual(await c.answer(1), [[one, 0], [two, 0]]);
  assert.equal(fcmIssued.length, before + 1, 'one token for both sends');
  fcmIssued.length = 0; // revoked: the fake now answers 401 to it
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: ANDROID, token: three }]), 2);
  assert.deepEqual(await c.answer(2), [[three, 0]]);
  assert.equal(fcmIssued.length, 1);
  assert.equal(server.stats.retries, 1);
});

test('tokens of a provider that is not configured are answered failed, not queued', async (t) => {
  const server = await start(t, { FCM_SERVICE_ACCOUNT_FILE: '' });
  const c = await connect(t, server.address.port);
  const android = fcmToken();
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: ANDROID, token: android }]), 3);
  assert.deepEqual(await c.answer(3), [[android, 1]]);
  assert.equal(seenBy(fcm, android).length, 0);
  assert.equal(server.stats.unconfigured, 1);
});

test('only loopback and PUSH_TRUSTED_PEERS may connect', async (t) => {
  const server = await start(t, {}, { trustLoopback: false, trustedPeers: addressList('PUSH_TRUSTED_PEERS', '127.0.0.2') });
  const stranger = await connect(t, server.address.port);
  stranger.send(Cid.CID_OTHER_HEARTBEAT, new Uint8Array(0), 1);
  await until(() => stranger.closed, 2000, 'untrusted link closed');
  assert.equal(stranger.frames.length, 0);
  assert.equal(server.stats.linksRefused, 1);
  const friend = await connect(t, server.address.port, '127.0.0.2');
  friend.send(Cid.CID_OTHER_HEARTBEAT, new Uint8Array(0), 5);
  await until(() => friend.frames.some((f) => f.header.seqNum === 5), 2000, 'heartbeat echo to a trusted peer');
});

test('after GOAWAY the next push opens a new HTTP/2 session', async (t) => {
  const server = await start(t);
  const c = await connect(t, server.address.port);
  apns.goawayNext = true;
  const [one, two] = [iosToken(), iosToken()];
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: one }]), 1);
  assert.deepEqual(await c.answer(1), [[one, 0]]);
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: two }]), 2);
  assert.deepEqual(await c.answer(2), [[two, 0]]);
  assert.equal(server.clients.apns!.sessionsOpened, 2);
});

test('shutdown: a push still held after the grace period is answered failed before the link ends', async (t) => {
  const server = await start(t, { PUSH_SHUTDOWN_GRACE_MS: '100' });
  const c = await connect(t, server.address.port);
  const [done, held] = [iosToken(), iosToken()];
  apns.script.set(held, ['hold']);
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: done }]), 1);
  assert.deepEqual(await c.answer(1), [[done, 0]]);
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, request([{ type: IOS, token: held }]), 2);
  await until(() => apns.heldCount === 1, 3000, 'a held push');
  await server.close();
  assert.deepEqual(await c.answer(2, 10), [[held, 1]]);
  await until(() => c.closed, 2000, 'link ended');
});

test('a bad body is answered empty, an oversized frame and a silent link are dropped', async (t) => {
  const server = await start(t, { PUSH_LINK_TIMEOUT_MS: '300', PUSH_MAX_FRAME_BYTES: '4096' });
  const c = await connect(t, server.address.port);
  c.send(Cid.CID_OTHER_PUSH_TO_USER_REQ, Buffer.from([0xff, 0xff, 0xff]), 6);
  assert.deepEqual(await c.answer(6), []);
  assert.equal(server.stats.badBodies, 1);
  const big = await connect(t, server.address.port);
  big.write(encodePdu({ commandId: Cid.CID_OTHER_PUSH_TO_USER_REQ }, Buffer.alloc(5000)).subarray(0, 16));
  await until(() => big.closed, 2000, 'oversized frame closes the link');
  await until(() => c.closed, 2000, 'silent link dropped');
});
