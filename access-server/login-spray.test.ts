/**
 * The per-source login throttle end to end: an access server on a dual-stack
 * listener, a real db-proxy, MariaDB and Redis; clients from 127.0.0.x and ::1.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu } from '../proto/header.ts';
import { IM } from '../proto/messages.ts';
import type { RunningAccessServer } from './access-server.ts';
import { LoginResult } from './handlers/login.ts';
import { loginRequest, PC, startAccessFixture, type AccessFixture } from '../test/helpers/access-server.ts';

const BURST = 20;
const RATE = 1;

interface RawClient {
  login(n: number, password?: string): Promise<IM.Login.IMLoginRes>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  destroy(): void;
}

let fx: AccessFixture;
let server: RunningAccessServer;
const raw: RawClient[] = [];

/** A bare TCP client (it can pick its local address, so tests choose their source). */
function connectRaw(port: number, opts: { host?: string; localAddress?: string } = {}): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: opts.host ?? '127.0.0.1', port, localAddress: opts.localAddress });
    const decoder = new FrameDecoder();
    let answered: ((res: IM.Login.IMLoginRes) => void) | null = null;
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.header.commandId === Cid.CID_LOGIN_RES_USERLOGIN) answered?.(decodeBody(Cid.CID_LOGIN_RES_USERLOGIN, f.body));
      }
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      const client: RawClient = {
        login(n, password) {
          return new Promise((res, rej) => {
            answered = res;
            closed.then(() => rej(new Error(`user${n}: closed without an answer`)), rej);
            socket.write(encodePdu({ commandId: Cid.CID_LOGIN_REQ_USERLOGIN, seqNum: 1 }, encodeBody(Cid.CID_LOGIN_REQ_USERLOGIN, loginRequest(n, PC, password))));
          });
        },
        closed,
        destroy: () => socket.destroy(),
      };
      raw.push(client);
      resolve(client);
    });
  });
}

/** Failure counter db-proxy keeps per (name, source) for wrong passwords (db-proxy/handlers/login-lockout.ts). */
async function failures(n: number, source: string): Promise<number> {
  return Number((await fx.dbProxy.storage.redis.get(`login_fail_${source}|user${n}`)) ?? 0);
}

function validatesSeen(): number {
  return fx.dbProxy.proxy.server.stats.requests;
}

/** Logs in from `opts` with a wrong password until one attempt is throttled (the source's bucket is then empty). */
async function drain(opts: { host?: string; localAddress?: string }, n: number): Promise<void> {
  for (let i = 0; i < BURST + 5; i++) {
    const c = await connectRaw(server.address.port, opts);
    if ((await c.login(n, 'wrong')).resultCode === LoginResult.MSG_SERVER_FULL) return;
  }
  throw new Error('never throttled');
}

before(async () => {
  fx = await startAccessFixture();
  server = await fx.startServer({ ACCESS_HOST: '::', ACCESS_HTTP_PORT: '0', ACCESS_LOGIN_RATE_PER_SEC: String(RATE), ACCESS_LOGIN_BURST: String(BURST) });
  await fx.seedUsers(110);
});
after(async () => {
  for (const c of raw) c.destroy();
  await fx.close();
});

test('the refusal is TeamTalk REFUSE_REASON_MSG_SERVER_FULL', () => {
  assert.equal(LoginResult.MSG_SERVER_FULL, IM.BaseDefine.ResultType.REFUSE_REASON_MSG_SERVER_FULL);
});

test('a spray of 30 logins from one address: the first BURST reach db-proxy, the rest are refused, closed, never validated', async () => {
  const clients = await Promise.all(Array.from({ length: 30 }, () => connectRaw(server.address.port)));
  const seenBefore = validatesSeen();
  const t0 = Date.now();
  // Users 1..30 across the accounts; odd ones with their password, even ones with a wrong one.
  const answers = await Promise.all(clients.map((c, i) => c.login(i + 1, (i + 1) % 2 === 1 ? undefined : 'wrong')));
  const elapsedMs = Date.now() - t0;
  const through = answers.flatMap((a, i) => (a.resultCode === LoginResult.MSG_SERVER_FULL ? [] : [i + 1]));
  const refused = answers.flatMap((a, i) => (a.resultCode === LoginResult.MSG_SERVER_FULL ? [i + 1] : []));
  // Tokens refilled while the spray ran (RATE per second) may let a few more through.
  const refilled = Math.floor((elapsedMs * RATE) / 1000);
  assert.ok(through.length >= BURST && through.length <= BURST + refilled, `${through.length} let through in ${elapsedMs} ms`);
  for (const n of through) assert.equal(answers[n - 1]!.resultCode, n % 2 === 1 ? LoginResult.NONE : LoginResult.DB_VALIDATE_FAILED, `user${n}`);
  for (const n of refused) assert.match(answers[n - 1]!.resultString, /too many login attempts/);
  await Promise.all(refused.map((n) => clients[n - 1]!.closed));
  assert.equal(validatesSeen() - seenBefore, through.length, 'db-proxy got one validate per attempt let through, none for the others');
  for (const n of through.filter((k) => k % 2 === 0)) assert.equal(await failures(n, '127.0.0.1'), 1, `user${n} counted at db-proxy`);
  for (const n of refused.filter((k) => k % 2 === 0)) assert.equal(await failures(n, '127.0.0.1'), 0, `user${n} never reached db-proxy`);
  assert.equal(server.loginThrottle.stats.throttled, refused.length);
  for (const n of through.filter((k) => k % 2 === 1)) assert.equal(server.sessions.conns(n).length, 1, `user${n} logged in`);
});

test('tokens refill with time: a throttled source logs in again once a token is back', async () => {
  await drain({}, 40);
  const deadline = Date.now() + 1000 / RATE + 3000;
  let refusedMeanwhile = 0;
  while (Date.now() < deadline) {
    const c = await connectRaw(server.address.port);
    const res = await c.login(41);
    if (res.resultCode === LoginResult.NONE) {
      assert.equal(res.userInfo?.userId, 41);
      return;
    }
    assert.equal(res.resultCode, LoginResult.MSG_SERVER_FULL);
    refusedMeanwhile++;
    await c.closed;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no token back within ${1000 / RATE + 3000} ms (${refusedMeanwhile} refused)`);
});

test('another source is not affected: ::1 and 127.0.0.2 have their own burst while 127.0.0.1 is throttled', async () => {
  await drain({}, 42);
  const sources = [{ host: '::1' }, { localAddress: '127.0.0.2' }];
  for (const [k, opts] of sources.entries()) {
    const clients = await Promise.all(Array.from({ length: BURST }, () => connectRaw(server.address.port, opts)));
    const users = clients.map((_, i) => 60 + k * BURST + i);
    const answers = await Promise.all(clients.map((c, i) => c.login(users[i]!)));
    assert.deepEqual(
      answers.map((a) => a.resultCode),
      answers.map(() => LoginResult.NONE),
      `${JSON.stringify(opts)}: every attempt of its burst goes ahead`,
    );
  }
  // 127.0.0.1 (seen as ::ffff:127.0.0.1 on the dual-stack listener), ::/64 and 127.0.0.2.
  assert.equal(server.loginThrottle.size, 3);
});

test('/metrics counts the refusals as access_login_throttled_total', async () => {
  const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  assert.equal(value('access_login_throttled_total'), server.loginThrottle.stats.throttled);
  assert.ok(value('access_login_throttled_total') >= 10);
  assert.equal(value('access_login_throttle_sources'), server.loginThrottle.size);
});

test('the table of sources stays within ACCESS_LOGIN_THROTTLE_SOURCES', async () => {
  const capped = await fx.startServer({ ACCESS_LOGIN_RATE_PER_SEC: '1', ACCESS_LOGIN_BURST: '1', ACCESS_LOGIN_THROTTLE_SOURCES: '3' });
  const port = capped.address.port;
  for (let i = 10; i < 18; i++) {
    const c = await connectRaw(port, { localAddress: `127.0.0.${i}` });
    assert.equal((await c.login(101, 'wrong')).resultCode, LoginResult.DB_VALIDATE_FAILED, `127.0.0.${i} has a fresh bucket`);
    assert.ok(capped.loginThrottle.size <= 3);
  }
  assert.equal(capped.loginThrottle.size, 3);
  assert.equal(capped.loginThrottle.stats.evicted, 5);
  // The most recent source is still tracked and throttled; the oldest was dropped and starts afresh.
  const last = await connectRaw(port, { localAddress: '127.0.0.17' });
  assert.equal((await last.login(102, 'wrong')).resultCode, LoginResult.MSG_SERVER_FULL);
  const first = await connectRaw(port, { localAddress: '127.0.0.10' });
  assert.equal((await first.login(102, 'wrong')).resultCode, LoginResult.DB_VALIDATE_FAILED);
});
