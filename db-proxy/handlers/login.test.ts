import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cid, encodeBody } from '../../proto/commands.ts';
import { createHandlerContext, extraContext, redisOnDb, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { failureKey, lockKey } from './login-lockout.ts';
import { handlers, validate } from './login.ts';
import type { Handler, HandlerContext, Reply } from './types.ts';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const INJECTION = "x' OR '1'='1";

let t: HandlerTestContext;
let ctx: HandlerContext;

async function addUser(id: number, name: string, password: string, status = 0): Promise<void> {
  const salt = String(1000 + id);
  await t.storage.pool.query(
    `INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId, status, created, updated, sign_info)
     VALUES (?, 1, ?, ?, ?, ?, ?, '123', ?, NULL, 3, ?, 1, 1, 'hi')`,
    [id, name, `d${id}`, `nick${id}`, md5(md5(password) + salt), salt, `u${id}@x`, status],
  );
}

function handler(cid: number): Handler<object> {
  return handlers.find((h) => h.commandId === cid) as unknown as Handler<object>;
}

async function one(cid: number, req: object): Promise<Record<string, unknown>> {
  const [reply] = await handler(cid).run(ctx, [req]);
  encodeBody((reply as Reply).commandId as never, (reply as Reply).message as never);
  return (reply as Reply).message as Record<string, unknown>;
}

before(async () => {
  t = await createHandlerContext();
  ctx = t.ctx;
  await addUser(1, 'alice', 'secret');
  await addUser(2, 'bob', 'pw', 1);
  await addUser(3, INJECTION, 'inj');
  await addUser(4, 'carol', 'c');
});
after(() => t.close());

describe('validate', () => {
  test('answers a batch: success, bad password, unknown, disabled, injection-looking names', async () => {
    const reqs = [
      { userName: 'alice', password: md5('secret') },
      { userName: 'alice', password: md5('wrong') },
      { userName: 'nobody', password: md5('secret') },
      { userName: 'bob', password: md5('pw') },
      { userName: INJECTION, password: md5('inj') },
      { userName: "alice' -- ", password: md5('nothing') },
      { userName: 'y'.repeat(40), password: md5('secret') },
      { userName: '', password: '' },
    ];
    const out = (await validate.run(ctx, reqs)).map((r) => (r as Reply).message as Record<string, unknown>);
    assert.deepEqual(out.map((m) => m.resultCode), [0, 1, 1, 1, 0, 1, 1, 1]);
    assert.deepEqual(out[0]!.userInfo, {
      userId: 1, userGender: 1, userNickName: 'nick1', avatarUrl: '', departmentId: 3, email: 'u1@x',
      userRealName: 'alice', userTel: '123', userDomain: 'd1', status: 0, signInfo: 'hi',
    });
    assert.equal((out[4]!.userInfo as { userId: number }).userId, 3);
    assert.equal(out[1]!.userInfo, undefined);
    assert.equal(out[1]!.userName, 'alice');
    assert.ok(typeof out[1]!.resultString === 'string' && out[1]!.resultString !== '');
    assert.equal(await t.storage.redis.get(failureKey('alice', '')), '1');
    // unknown names count too, so a lockout does not tell which names exist
    assert.equal(await t.storage.redis.get(failureKey("alice' -- ", '')), '1');
    const [count] = await t.storage.pool.query('SELECT COUNT(*) AS n FROM IMUser');
    assert.equal((count as { n: number }[])[0]!.n, 4);
  });

  test('without a client address: locked per name after 20 wrong passwords; success clears the counter', async () => {
    const wrong = Array.from({ length: 20 }, () => ({ userName: 'carol', password: md5('x') }));
    const first = await validate.run(ctx, wrong);
    assert.ok(first.every((r) => (r!.message as { resultCode: number }).resultCode === 1));
    assert.equal(await t.storage.redis.get(failureKey('carol', '')), '20');
    assert.ok((await t.storage.redis.ttl(failureKey('carol', ''))) > 0);
    const locked = await one(Cid.CID_OTHER_VALIDATE_REQ, { userName: 'carol', password: md5('c') });
    assert.equal(locked.resultCode, 6);
    await t.storage.redis.del(lockKey('carol', ''));
    assert.equal((await one(Cid.CID_OTHER_VALIDATE_REQ, { userName: 'carol', password: md5('c') })).resultCode, 0);
    assert.equal(await t.storage.redis.get(failureKey('carol', '')), null);
  });

  test('fail answers with result code 2', () => {
    const reply = validate.fail({ userName: 'alice', password: 'x' }, new Error('down'))!;
    assert.equal(reply.commandId, Cid.CID_OTHER_VALIDATE_RSP);
    assert.equal((reply.message as { resultCode: number }).resultCode, 2);
    assert.equal((validate.fail({} as never, new Error('bad body'))!.message as { userName: string }).userName, '');
  });
});

describe('push shield', () => {
  test('set and query', async () => {
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_PUSH_SHIELD, { userId: 1, shieldStatus: 1 }), { userId: 1, resultCode: 0, shieldStatus: 1 });
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD, { userId: 1 }), { userId: 1, resultCode: 0, shieldStatus: 1 });
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_PUSH_SHIELD, { userId: 99, shieldStatus: 1 }), { userId: 99, resultCode: 1 });
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_PUSH_SHIELD, { userId: 1, shieldStatus: 7 }), { userId: 1, resultCode: 1 });
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD, { userId: 99 }), { userId: 99, resultCode: 1 });
    const fail = handler(Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD).fail({ userId: 1 }, new Error('x'))!;
    assert.deepEqual(fail, { commandId: Cid.CID_LOGIN_RES_QUERY_PUSH_SHIELD, message: { userId: 1, resultCode: 1 } });
  });
});

describe('device tokens', () => {
  const r = () => t.storage.redis;

  test('set keeps both directions and moves a token between accounts', async () => {
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 1, deviceToken: 'tokA', clientType: 0x11 }), { userId: 1 });
    assert.equal(await r().get('device_1'), 'ios:tokA');
    assert.equal(await r().get('device_tokA'), '1');
    await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 1, deviceToken: 'tokB', clientType: 0x11 });
    assert.equal(await r().get('device_tokA'), null);
    assert.equal(await r().get('device_1'), 'ios:tokB');
    await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 4, deviceToken: 'tokB', clientType: 0x12 });
    assert.equal(await r().get('device_1'), null);
    assert.equal(await r().get('device_4'), 'android:tokB');
    assert.equal(await r().get('device_tokB'), '4');
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 3, deviceToken: '4', clientType: 0x12 }), { userId: 3 });
    assert.equal(await r().get('device_4'), 'android:tokB');
    assert.equal(await r().get('device_3'), null);
  });

  test('an empty token (a logout) clears the user\'s token and its way back, not another user\'s', async () => {
    await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 2, deviceToken: 'tokC', clientType: 0x12 });
    assert.equal(await r().get('device_2'), 'android:tokC');
    assert.deepEqual(await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 2, deviceToken: '' }), { userId: 2 });
    assert.equal(await r().get('device_2'), null);
    assert.equal(await r().get('device_tokC'), null);
    const tokens = await one(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ, { userId: [2] });
    assert.deepEqual((tokens as { userTokenInfo: unknown[] }).userTokenInfo, []);
    // The token moved to user 3 meanwhile: user 2's logout leaves it with 3.
    await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 2, deviceToken: 'tokD', clientType: 0x12 });
    await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 3, deviceToken: 'tokD', clientType: 0x12 });
    await one(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 2, deviceToken: '' });
    assert.equal(await r().get('device_tokD'), '3');
    assert.equal(await r().get('device_3'), 'android:tokD');
  });

  test('get lists mobile tokens with unread totals and drops shielded iOS users at night', async () => {
    await t.storage.pool.query('UPDATE IMUser SET push_shield_status = 1 WHERE id = 1');
    await r().set('device_1', 'ios:tok1');
    await r().set('device_3', 'desktop');
    await r().hset('unread_4', { 5: '3', 6: '2' });
    await t.storage.pool.query('INSERT INTO IMGroupMember (groupId, userId, status) VALUES (9, 4, 0), (10, 4, 1)');
    await r().hset('9_im_group_msg', { count: '10' });
    await r().hset('4_9_im_user_group', { count: '4' });
    await r().hset('10_im_group_msg', { count: '50' });
    const at = (hour: number): HandlerContext => ({ ...ctx, now: () => new Date(2024, 0, 2, hour).getTime() / 1000 });
    const get = handler(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ);
    const day = (await get.run(at(12), [{ userId: [1, 3, 4, 4, 77] }]))[0]!.message as { userTokenInfo: unknown[] };
    assert.deepEqual(day.userTokenInfo, [
      { userId: 1, userType: 0x11, token: 'tok1', pushCount: 0, pushType: 1 },
      { userId: 4, userType: 0x12, token: 'tokB', pushCount: 11, pushType: 1 },
    ]);
    const night = (await get.run(at(23), [{ userId: [1, 4] }]))[0]!.message as { userTokenInfo: { userId: number }[] };
    assert.deepEqual(night.userTokenInfo.map((x) => x.userId), [4]);
    assert.deepEqual(get.fail({ userId: [1] }, new Error('x')), { commandId: Cid.CID_OTHER_GET_DEVICE_TOKEN_RSP, message: { userTokenInfo: [] } });
  });
});

test('every refusal encodes, even for a request that could not be decoded', () => {
  for (const h of handlers) {
    const reply = h.fail({} as never, new Error('bad body'));
    if (reply) assert.ok(encodeBody(reply.commandId as never, reply.message as never).length >= 0);
  }
});

describe('device tokens on a Redis of their own (REDIS_URL_TOKEN)', () => {
  test('tokens go to the token Redis; counters stay on REDIS_URL', async () => {
    const { url, redis: tokenRedis } = redisOnDb(t.storage, 11);
    const own = await extraContext(t.storage, { redisTokenUrl: url });
    try {
      const [reply] = await handler(Cid.CID_LOGIN_REQ_DEVICETOKEN).run(own, [{ userId: 5, deviceToken: 'tokZ', clientType: 0x11 } as never]);
      assert.deepEqual((reply as Reply).message, { userId: 5 });
      assert.equal(await tokenRedis.get('device_5'), 'ios:tokZ');
      assert.equal(await t.storage.redis.get('device_5'), null, 'not on REDIS_URL');
      const [tokens] = await handler(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ).run(own, [{ userId: [5] } as never]);
      assert.equal(((tokens as Reply).message as { userTokenInfo: { token: string }[] }).userTokenInfo[0]?.token, 'tokZ');
    } finally {
      await tokenRedis.del('device_5', 'device_tokZ');
      tokenRedis.disconnect();
      await own.close();
    }
  });
});

