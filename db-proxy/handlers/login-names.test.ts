/**
 * Login names are compared exactly, and wrong passwords back off per
 * (name, client address): a stranger elsewhere cannot lock a user out, and
 * cannot reset the count by spelling the name differently.
 */
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAttach } from '../../common/attach.ts';
import { withHandlerContext, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { failureKey, lockKey, Lockout } from './login-lockout.ts';
import { validate } from './login.ts';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const ALICE_HOME = '198.51.100.7';
const STRANGER = '203.0.113.9';

let t: HandlerTestContext;
withHandlerContext((h) => (t = h));

async function addUser(id: number, name: string, password: string): Promise<void> {
  const salt = String(1000 + id);
  await t.storage.pool.query(
    'INSERT INTO IMUser (id, name, nick, password, salt, departId, status, created, updated) VALUES (?, ?, ?, ?, ?, 1, 0, 1, 1)',
    [id, name, `nick${id}`, md5(md5(password) + salt), salt],
  );
}

let nextRequest = 1;
/** Result codes of one batch of logins from `source`. */
async function login(source: string, ...attempts: [name: string, password: string][]): Promise<number[]> {
  const reqs = attempts.map(([userName, pw]) => ({ userName, password: md5(pw), attachData: buildAttach(1, nextRequest++, source) }));
  const out = await validate.run(t.ctx, reqs);
  return out.map((r) => (r!.message as { resultCode: number }).resultCode);
}

test('names are compared exactly: no trailing-space or case variant logs in', async () => {
  await addUser(1, 'alice', 'secret');
  await addUser(2, 'Bob', 'pw');
  assert.deepEqual(await login(ALICE_HOME, ['alice', 'secret']), [0]);
  assert.deepEqual(
    await login(ALICE_HOME, ['alice ', 'secret'], ['Alice', 'secret'], ['ALICE', 'secret'], ['alice  ', 'secret'], ['bob', 'pw'], ['Bob ', 'pw']),
    [1, 1, 1, 1, 1, 1],
  );
  assert.deepEqual(await login(ALICE_HOME, ['Bob', 'pw']), [0]);
  // Variants are other (unknown) names: their failures are not alice's.
  assert.equal(await t.storage.redis.get(failureKey('alice', ALICE_HOME)), null);
});

test('a stranger guessing from another address does not lock alice out of hers', async () => {
  await addUser(3, 'carol', 'mine');
  const guesses = Array.from({ length: 30 }, (_, i): [string, string] => ['carol', `guess${i}`]);
  const stranger = await login(STRANGER, ...guesses);
  assert.deepEqual(stranger.slice(0, Lockout.freeFailures), new Array(Lockout.freeFailures).fill(1));
  assert.ok(stranger.slice(Lockout.freeFailures).every((c) => c === 6), 'the stranger is locked out after the free failures');
  assert.deepEqual(await login(STRANGER, ['carol', 'mine']), [6], 'even the right password, while locked');
  assert.deepEqual(await login(ALICE_HOME, ['carol', 'mine']), [0], 'carol logs in from her own address');
  assert.deepEqual(await login(STRANGER, ['carol ', 'mine'], ['Carol', 'mine']), [1, 1], 'no spelling logs in from the locked address');
});

test('the lock doubles with each failure past the free ones, capped, and a success resets it', async () => {
  await addUser(4, 'dave', 'right');
  const src = '192.0.2.44';
  const wrong: [string, string] = ['dave', 'wrong'];
  assert.deepEqual(await login(src, ...new Array<[string, string]>(Lockout.freeFailures - 1).fill(wrong)), [1, 1, 1, 1]);
  assert.equal(await t.storage.redis.exists(lockKey('dave', src)), 0, 'no lock before the threshold');
  const ttls: number[] = [];
  for (let i = 0; i < 4; i++) {
    await t.storage.redis.del(lockKey('dave', src)); // time passes: the previous lock ran out
    assert.deepEqual(await login(src, wrong), [1]);
    ttls.push(await t.storage.redis.pttl(lockKey('dave', src)));
    assert.deepEqual(await login(src, ['dave', 'right']), [6], 'locked: refused without a password check');
  }
  const expected = [1000, 2000, 4000, 8000];
  ttls.forEach((ms, i) => assert.ok(ms > expected[i]! - 500 && ms <= expected[i]!, `lock ${i + 1}: ${ms} ms, expected ~${expected[i]}`));

  await t.storage.redis.set(failureKey('dave', src), '60');
  await t.storage.redis.del(lockKey('dave', src));
  assert.deepEqual(await login(src, wrong), [1]);
  assert.ok((await t.storage.redis.pttl(lockKey('dave', src))) > Lockout.maxDelayMs - 1000, 'capped at the maximum');
  assert.ok((await t.storage.redis.pttl(failureKey('dave', src))) >= Lockout.maxDelayMs, 'the count outlives the lock');

  await t.storage.redis.del(lockKey('dave', src));
  assert.deepEqual(await login(src, ['dave', 'right']), [0]);
  assert.equal(await t.storage.redis.exists(failureKey('dave', src)), 0, 'a success clears the count');
});

test('the first lock really expires after about a second', async () => {
  await addUser(5, 'erin', 'ok');
  const src = '192.0.2.55';
  await login(src, ...new Array<[string, string]>(Lockout.freeFailures).fill(['erin', 'bad']));
  assert.deepEqual(await login(src, ['erin', 'ok']), [6]);
  const started = Date.now();
  let code = 6;
  while (code === 6 && Date.now() - started < 3000) {
    await new Promise((r) => setTimeout(r, 50));
    [code] = await login(src, ['erin', 'ok']);
  }
  assert.equal(code, 0);
  assert.ok(Date.now() - started >= Lockout.firstDelayMs - 200);
});
