/**
 * The msg_server registration port, spoken to over raw sockets byte for byte
 * as TeamTalk's C++ msg_server speaks to TeamTalk's login_server.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pino from 'pino';
import { ErrorCode, isImError } from '../common/errors.ts';
import { Cid, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { FakeAccessServer, startTestRouteServer } from '../test/helpers/route-server.ts';
import { loadConfig } from './config.ts';
import { pickAcross } from './login-port.ts';
import { startRouteServer, type RunningRouteServer } from './route-server.ts';

/** TeamTalk's SID_OTHER: every PDU on this port is of that service. */
const SID_OTHER = 0x0007;

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `work`, or a rejection after `ms`. */
async function within<T>(work: Promise<T>, ms = 2000, what = 'not in time'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

interface Registration {
  ip1: string;
  ip2: string;
  port: number;
  maxConnCnt: number;
  curConnCnt: number;
  hostName: string;
}

/** What a TeamTalk msg_server writes: header version 1, flag 0, SID_OTHER, seq 0, reserved 0, then the protobuf body. */
function servInfoPdu(r: Registration): Buffer {
  return encodePdu({ commandId: Cid.CID_OTHER_MSG_SERV_INFO, serviceId: SID_OTHER }, encodeBody(Cid.CID_OTHER_MSG_SERV_INFO, r));
}

function userCntPdu(userAction: number, userId: number): Buffer {
  return encodePdu({ commandId: Cid.CID_OTHER_USER_CNT_UPDATE, serviceId: SID_OTHER }, encodeBody(Cid.CID_OTHER_USER_CNT_UPDATE, { userAction, userId }));
}

const HEARTBEAT = encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT, serviceId: SID_OTHER }, new Uint8Array(0));

/** One TeamTalk msg_server's link to its login server, on a raw socket. */
class MsgServerSocket {
  readonly received: Pdu[] = [];
  readonly raw: Buffer[] = [];
  isClosed = false;
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();

  private constructor(
    readonly socket: net.Socket,
    private readonly counter: { sent: number },
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.raw.push(chunk);
      this.received.push(...this.decoder.push(chunk));
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((r) =>
      socket.once('close', () => {
        this.isClosed = true;
        r();
      }),
    );
  }

  static async connect(port: number, counter: { sent: number } = { sent: 0 }): Promise<MsgServerSocket> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new MsgServerSocket(socket, counter);
  }

  /** Whole PDUs, counted for `settled`. */
  send(...pdus: Buffer[]): void {
    this.counter.sent += pdus.length;
    this.socket.write(Buffer.concat(pdus));
  }

  register(r: Registration): void {
    this.send(servInfoPdu(r));
  }

  /** `n` users online (1) or offline (2), as CMsgConn::SendUserStatusUpdate reports them. */
  users(action: 1 | 2, n: number): void {
    this.send(...Array.from({ length: n }, (_, i) => userCntPdu(action, 1000 + i)));
  }

  close(): Promise<void> {
    this.socket.end();
    return within(this.closed, 2000, 'link still open');
  }

  /** Resolves once the route-server closed the link; rejects after `ms`. */
  closedBy(ms = 2000): Promise<void> {
    return within(this.closed, ms, 'link still open');
  }
}

/** msg_servers of one route-server, with a barrier on everything they sent. */
function wire(route: RunningRouteServer, t: TestContext) {
  const counter = { sent: 0 };
  const port = route.loginAddress!.port;
  return {
    async connect(): Promise<MsgServerSocket> {
      const m = await MsgServerSocket.connect(port, counter);
      t.after(() => m.socket.destroy());
      return m;
    },
    /** Resolves once the route-server has read every PDU sent so far. */
    settled: () => until(() => route.loginPort!.stats.pdusIn >= counter.sent),
  };
}

async function msgServer(route: RunningRouteServer): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${route.httpAddress.port}/msg_server`);
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

async function chosenPort(route: RunningRouteServer): Promise<unknown> {
  const r = await msgServer(route);
  return r.code === 0 ? r.port : `code ${String(r.code)}`;
}

async function metric(route: RunningRouteServer, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${route.httpAddress.port}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  assert.ok(m, `metric ${name} listed`);
  return Number(m[1]);
}

const reg = (hostName: string, port: number, maxConnCnt: number, curConnCnt: number): Registration => ({
  ip1: `10.1.0.${port % 256}`,
  ip2: `10.2.0.${port % 256}`,
  port,
  maxConnCnt,
  curConnCnt,
  hostName,
});

test('TeamTalk bytes: our PDUs match hand-written ones', () => {
  // IMUserCntUpdate { user_action = 1, user_id = 42 }: 08 01 10 2a, after a 20-byte header for SID_OTHER 0x0007, CID 0x070b.
  assert.deepEqual(userCntPdu(1, 42), Buffer.from('00000014' + '0001' + '0000' + '0007' + '070b' + '0000' + '0000' + '0801102a', 'hex'));
  assert.deepEqual(HEARTBEAT, Buffer.from('00000010' + '0001' + '0000' + '0007' + '0701' + '0000' + '0000', 'hex'));
  const info = servInfoPdu(reg('h', 8000, 100, 0));
  assert.deepEqual(info.subarray(0, 16), Buffer.from([0, 0, 0, info.length, 0, 1, 0, 0, 0, 7, 7, 9, 0, 0, 0, 0]));
});

test('registrations and user counts balance GET /msg_server over msg_servers and access servers', { timeout: 5000 }, async (t) => {
  const route = await startTestRouteServer({ ROUTE_LOGIN_PORT: '0' });
  t.after(() => route.close());
  assert.ok(route.loginAddress && route.loginAddress.port > 0);
  const w = wire(route, t);
  assert.deepEqual(await msgServer(route), { code: 1, msg: 'no msg server' });

  const a = await w.connect();
  a.register({ ip1: '203.0.113.7', ip2: '198.51.100.7', port: 8000, maxConnCnt: 100, curConnCnt: 10, hostName: 'tt-a' }); // 0.10
  await w.settled();
  const r = await msgServer(route);
  assert.equal(r.code, 0);
  assert.equal(r.priorIP, '203.0.113.7');
  assert.equal(r.backupIP, '198.51.100.7');
  assert.equal(r.port, '8000');

  const as = await FakeAccessServer.start(route, { serverId: 'as-1', port: 9000, maxConnCnt: 40, curConnCnt: 8 }); // 0.20
  t.after(() => as.close());
  const b = await w.connect();
  b.register(reg('tt-b', 8001, 200, 10)); // 0.05
  await w.settled();
  assert.equal(await chosenPort(route), '8001', 'least cur/max wins');
  assert.equal(await metric(route, 'route_login_servers'), 2);

  b.users(1, 20); // 30 of 200: 0.15
  await w.settled();
  assert.equal(await chosenPort(route), '8000');
  // The same update, hand-written, as a msg_server sends it when a user logs in.
  a.send(...Array.from({ length: 15 }, () => Buffer.from('00000014000100000007070b000000000801102a', 'hex'))); // 25 of 100
  await w.settled();
  assert.equal(await chosenPort(route), '8001');
  b.users(1, 20); // 50 of 200: 0.25
  await w.settled();
  assert.equal(await chosenPort(route), '9000', 'an access server wins when it is the least loaded');
  a.users(2, 10); // 15 of 100
  await w.settled();
  assert.equal(await chosenPort(route), '8000', 'users going offline lower the load');

  const c = await w.connect();
  c.register(reg('tt-c', 8002, 10, 10)); // full
  await w.settled();
  assert.equal(await chosenPort(route), '8000', 'a full server is skipped');
  c.register(reg('tt-c', 8002, 10, 0)); // a second registration on the link replaces the first
  await w.settled();
  assert.equal(route.loginPort!.serverCount, 3);
  assert.equal(await chosenPort(route), '8002');
  c.users(1, 10); // full again
  await w.settled();
  assert.equal(await chosenPort(route), '8000');

  await a.close();
  await until(() => route.loginPort!.serverCount === 2);
  assert.equal(await chosenPort(route), '9000', 'a closed link takes its server away');

  for (let i = 0; i < 32; i++) as.count(1); // 40 of 40
  await as.barrier();
  b.register(reg('tt-b', 8001, 50, 50));
  await w.settled();
  assert.deepEqual(await msgServer(route), { code: 2, msg: 'all msg servers are full' });
  c.users(2, 1);
  await w.settled();
  assert.equal(await chosenPort(route), '8002');

  await Promise.all([b.close(), c.close(), as.close()]);
  await until(() => route.loginPort!.serverCount === 0 && route.presence.serverCount === 0);
  assert.deepEqual(await msgServer(route), { code: 1, msg: 'no msg server' });
  assert.equal(await metric(route, 'route_login_servers'), 0);
  assert.equal(a.received.length, 0, 'nothing but heartbeats is ever written to a msg_server');
});

test('the port heartbeats an idle link, drops a silent one with its server, keeps one that heartbeats', { timeout: 5000 }, async (t) => {
  const route = await startTestRouteServer({ ROUTE_LOGIN_PORT: '0', ROUTE_HEARTBEAT_MS: '100', ROUTE_LINK_TIMEOUT_MS: '500' });
  t.after(() => route.close());
  const w = wire(route, t);
  const silent = await w.connect();
  silent.register(reg('tt-silent', 8000, 100, 0));
  const live = await w.connect();
  live.register(reg('tt-live', 8001, 100, 50));
  const beat = setInterval(() => live.send(HEARTBEAT), 100);
  t.after(() => clearInterval(beat));
  await w.settled();
  assert.equal(route.loginPort!.serverCount, 2);

  const started = Date.now();
  await silent.closedBy();
  assert.ok(Date.now() - started >= 350, 'not dropped before the timeout');
  assert.ok(silent.received.length >= 2, 'heartbeats while idle');
  assert.deepEqual(silent.raw[0]!.subarray(0, 16), Buffer.from('00000010000100000007070100000000', 'hex'), "login_server's heartbeat, byte for byte");
  assert.ok(silent.received.every((p) => p.header.commandId === Cid.CID_OTHER_HEARTBEAT));
  await until(() => route.loginPort!.serverCount === 1);
  assert.equal(await chosenPort(route), '8001');

  await sleep(300);
  assert.equal(live.isClosed, false, 'a link that heartbeats stays');
  assert.ok(live.received.length >= 2, 'and is heartbeated too');
  assert.equal(await chosenPort(route), '8001');
});

test('admission by source address: not trusted is closed at once and counted; a trusted address is admitted; ROUTE_MAX_LINKS', { timeout: 5000 }, async (t) => {
  const base = { ROUTE_SERVER_PORT: '0', ROUTE_HTTP_PORT: '0', ROUTE_LOGIN_PORT: '0' };
  const strangers = loadConfig({ ...base, ROUTE_TRUSTED_PEERS: '10.0.0.0/8' });
  const refusing = await startRouteServer({ ...strangers, login: { ...strangers.login!, trustLoopback: false } }, pino({ level: 'silent' }));
  t.after(() => refusing.close());
  const m = await MsgServerSocket.connect(refusing.loginAddress!.port);
  m.register(reg('tt-x', 8000, 100, 0));
  await m.closedBy();
  assert.equal(m.received.length, 0);
  assert.equal(refusing.loginPort!.serverCount, 0);
  assert.equal(await metric(refusing, 'route_login_links_refused_total'), 1);
  assert.deepEqual(await msgServer(refusing), { code: 1, msg: 'no msg server' });

  const listed = loadConfig({ ...base, ROUTE_TRUSTED_PEERS: '127.0.0.1', ROUTE_MAX_LINKS: '1' });
  const trusting = await startRouteServer({ ...listed, login: { ...listed.login!, trustLoopback: false } }, pino({ level: 'silent' }));
  t.after(() => trusting.close());
  const ok = await MsgServerSocket.connect(trusting.loginAddress!.port);
  t.after(() => ok.socket.destroy());
  ok.register(reg('tt-ok', 8000, 100, 0));
  await until(() => trusting.loginPort!.serverCount === 1);
  const extra = await MsgServerSocket.connect(trusting.loginAddress!.port);
  await extra.closedBy();
  assert.equal(trusting.loginPort!.stats.linksRefused, 1, 'beyond ROUTE_MAX_LINKS');
  assert.equal(ok.isClosed, false);
  assert.equal(await chosenPort(trusting), '8000');
});

test('garbage, bad bodies and other commands never crash the port', { timeout: 5000 }, async (t) => {
  const route = await startTestRouteServer({ ROUTE_LOGIN_PORT: '0' });
  t.after(() => route.close());
  const w = wire(route, t);
  const stats = route.loginPort!.stats;

  const junk = await w.connect();
  junk.register(reg('tt-junk', 8000, 100, 0));
  await w.settled();
  junk.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await junk.closedBy();
  await until(() => route.loginPort!.serverCount === 0);
  const short = await w.connect();
  short.socket.write(Buffer.from('00000005000100000007070100000000', 'hex'));
  await short.closedBy();
  assert.equal(stats.framingErrors, 2);

  const odd = await w.connect();
  odd.send(userCntPdu(1, 1)); // before any registration: ignored
  odd.send(encodePdu({ commandId: Cid.CID_OTHER_MSG_SERV_INFO, serviceId: SID_OTHER }, Buffer.from([0xff, 0xff, 0xff])));
  odd.send(encodePdu({ commandId: Cid.CID_OTHER_MSG_SERV_INFO, serviceId: SID_OTHER }, new Uint8Array(0))); // required fields missing
  odd.send(servInfoPdu(reg('tt-odd', 0, 100, 0))); // port 0
  odd.send(encodePdu({ commandId: Cid.CID_LOGIN_REQ_MSGSERVER }, new Uint8Array(0)));
  odd.send(encodePdu({ commandId: 0x7777, serviceId: 0x77 }, Buffer.from('whatever')));
  odd.send(servInfoPdu(reg('tt-odd', 8001, 100, 0)));
  odd.send(userCntPdu(3, 1)); // neither online nor offline
  odd.send(encodePdu({ commandId: Cid.CID_OTHER_USER_CNT_UPDATE, serviceId: SID_OTHER }, Buffer.from([0x08])));
  await w.settled();
  assert.equal(stats.unregisteredCounts, 1);
  assert.equal(stats.badBodies, 5);
  assert.equal(stats.unknownCommands, 2);
  assert.equal(odd.isClosed, false, 'a bad body or another command keeps the link');
  assert.equal(odd.received.length, 0, 'and nothing is answered');
  const r = await msgServer(route);
  assert.equal(r.port, '8001');
  assert.equal(await metric(route, 'route_login_bad_bodies_total'), 5);
});

test('ROUTE_LOGIN_PORT / ROUTE_LOGIN_HOST', () => {
  const bad = (env: Record<string, string>, re: RegExp): void => {
    assert.throws(() => loadConfig(env), (err: unknown) => isImError(err, ErrorCode.BAD_CONFIG) && re.test(err.message));
  };
  const d = loadConfig({});
  assert.deepEqual({ host: d.login?.host, port: d.login?.port, trustLoopback: d.login?.trustLoopback }, { host: '127.0.0.1', port: 8100, trustLoopback: true });
  assert.equal(loadConfig({ ROUTE_SERVER_PORT: '0' }).login?.port, 8100, 'set on its own');
  assert.equal(loadConfig({ ROUTE_LOGIN_PORT: '0' }).login?.port, 0);
  assert.equal(loadConfig({ ROUTE_LOGIN_PORT: 'off' }).login, null);
  assert.equal(loadConfig({ ROUTE_LOGIN_PORT: '-1' }).login, null);
  bad({ ROUTE_LOGIN_PORT: 'soon' }, /ROUTE_LOGIN_PORT/);
  bad({ ROUTE_LOGIN_PORT: '70000' }, /ROUTE_LOGIN_PORT/);
  bad({ ROUTE_LOGIN_HOST: '0.0.0.0' }, /ROUTE_LOGIN_HOST is 0\.0\.0\.0.*ROUTE_TRUSTED_PEERS/);
  const open = loadConfig({ ROUTE_LOGIN_HOST: '0.0.0.0', ROUTE_TRUSTED_PEERS: '10.0.0.5, 10.1.0.0/16' });
  assert.equal(open.login?.host, '0.0.0.0');
  assert.ok(open.login?.trusted?.check('10.1.2.3', 'ipv4'));
  const secret = 'a-cluster-secret-long-enough';
  assert.equal(loadConfig({ ROUTE_SERVER_HOST: '0.0.0.0', CLUSTER_SECRET: secret }).login?.host, '127.0.0.1', 'no trusted peers: loopback only');
  assert.equal(loadConfig({ ROUTE_SERVER_HOST: '0.0.0.0', CLUSTER_SECRET: secret, ROUTE_TRUSTED_PEERS: '10.0.0.5' }).login?.host, '0.0.0.0');
  bad({ ROUTE_SERVER_HOST: '0.0.0.0', CLUSTER_SECRET: secret, ROUTE_LOGIN_HOST: '0.0.0.0' }, /ROUTE_LOGIN_HOST/);
  assert.equal(loadConfig({ ROUTE_SERVER_HOST: '0.0.0.0', CLUSTER_SECRET: secret, ROUTE_LOGIN_PORT: 'off' }).login, null);
  assert.equal(loadConfig({ ROUTE_SERVER_HOST: '0.0.0.0', CLUSTER_SECRET: secret, ROUTE_LOGIN_HOST: '127.0.0.1' }).login?.host, '127.0.0.1');
});

test('pickAcross: least cur/max over every source, then fewest connections, the first source on a tie; 2 only when some server exists', () => {
  const s = (serverId: string, maxConnCnt: number, curConnCnt: number) => ({ serverId, ip1: 'i', ip2: 'j', port: 1, maxConnCnt, curConnCnt });
  assert.deepEqual(pickAcross([{ code: 1 }, { code: 1 }]), { code: 1 });
  assert.deepEqual(pickAcross([{ code: 1 }, { code: 2 }]), { code: 2 });
  assert.deepEqual(pickAcross([{ code: 2 }, { code: 1 }]), { code: 2 });
  const pick = (...c: Parameters<typeof pickAcross>[0]) => {
    const r = pickAcross(c);
    return r.code === 0 ? r.server.serverId : r.code;
  };
  assert.equal(pick({ code: 2 }, { code: 0, server: s('b', 10, 9) }), 'b');
  assert.equal(pick({ code: 0, server: s('a', 100, 20) }, { code: 0, server: s('b', 10, 1) }), 'b');
  assert.equal(pick({ code: 0, server: s('a', 100, 10) }, { code: 0, server: s('b', 10, 1) }), 'b', 'same ratio: fewer connections');
  assert.equal(pick({ code: 0, server: s('a', 10, 1) }, { code: 0, server: s('b', 10, 1) }), 'a', 'a tie: the first source');
});
