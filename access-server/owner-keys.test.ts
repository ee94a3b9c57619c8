import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { ownerKey } from './dup-login.ts';
import { nextPush, PC, startAccessFixture, whenClosed, type AccessFixture } from '../test/helpers/access-server.ts';
import { deleteKeys } from '../test/helpers/storage.ts';

let fx: AccessFixture;

before(async () => {
  fx = await startAccessFixture();
  await fx.seedUsers(4);
});
after(() => fx.close());

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const owner = (uid: number): Promise<string | null> => fx.dbProxy.storage.redis.get(ownerKey(uid, 'pc'));

/** Redis restarting empty, as far as this test's keys go. */
const loseRedis = (): Promise<number> => deleteKeys(fx.dbProxy.storage.redisUrl, fx.dbProxy.storage.keyPrefix);

test('after Redis loses the owner keys, a live PC session claims its key again and a later PC login kicks it', async () => {
  const server = await fx.startServer({ ACCESS_LOGIN_OWNER_REFRESH_MS: '100', ACCESS_LOGIN_OWNER_TTL_MS: '5000' });
  const oldPc = await fx.login(server, 1, PC);
  await until(async () => (await owner(1)) !== null, 2000, 'owner key written');
  await loseRedis();
  assert.equal(await owner(1), null);
  await until(async () => (await owner(1)) !== null, 3000, 'owner key claimed again');
  const kicked = nextPush(oldPc, Cid.CID_LOGIN_KICK_USER);
  const closed = whenClosed(oldPc);
  await fx.login(server, 1, PC);
  assert.equal(((await kicked).message as IM.Login.IMKickUser).kickReason, 1);
  await closed;
  await until(async () => server.sessions.conns(1).length === 1, 2000, 'one session left');
});

test('a Redis that lost the owner keys is noticed within the marker check, long before the next refresh: a duplicate login right after the loss is kicked', async () => {
  const server = await fx.startServer({ ACCESS_LOGIN_OWNER_REFRESH_MS: '60000', ACCESS_LOGIN_OWNER_TTL_MS: '120000', ACCESS_LOGIN_OWNER_CHECK_MS: '100' });
  const oldPc = await fx.login(server, 4, PC);
  await until(async () => (await owner(4)) !== null, 2000, 'owner key written');
  await loseRedis();
  await until(async () => (await owner(4)) !== null, 1500, 'owner key claimed again after the loss');
  assert.equal(server.ownerRefresher.lossPasses, 1);
  const kicked = nextPush(oldPc, Cid.CID_LOGIN_KICK_USER);
  await fx.login(server, 4, PC);
  await kicked;
  await until(async () => server.sessions.conns(4).length === 1, 2000, 'one session left');
});

test('a session whose key was taken while Redis had lost it is kicked by the next refresh', async () => {
  const server = await fx.startServer({ ACCESS_LOGIN_OWNER_REFRESH_MS: '60000', ACCESS_LOGIN_OWNER_TTL_MS: '120000' });
  const oldPc = await fx.login(server, 2, PC);
  await loseRedis();
  await fx.login(server, 2, PC); // finds no owner: nobody is kicked yet
  assert.equal(server.sessions.conns(2).length, 2);
  const closed = whenClosed(oldPc);
  await server.ownerRefresher.refreshNow();
  await closed;
  await until(async () => server.sessions.conns(2).length === 1, 2000, 'one session left');
});

test('owner keys carry a TTL that the owning server keeps extending; a server that stops refreshing loses them', async () => {
  const server = await fx.startServer({ ACCESS_LOGIN_OWNER_REFRESH_MS: '100', ACCESS_LOGIN_OWNER_TTL_MS: '400' });
  await fx.login(server, 3, PC);
  const ttl = await fx.dbProxy.storage.redis.pttl(ownerKey(3, 'pc'));
  assert.ok(ttl > 0 && ttl <= 400, `pttl ${ttl}`);
  const start = server.ownerRefresher.passes;
  await until(async () => server.ownerRefresher.passes >= start + 8, 3000, 'eight refreshes'); // 800 ms: twice the TTL
  assert.notEqual(await owner(3), null);
  // A crashed server refreshes nothing and releases nothing: its claims must expire on their own.
  await server.ownerRefresher.stop();
  await until(async () => (await owner(3)) === null, 3000, 'owner key expired');
});
