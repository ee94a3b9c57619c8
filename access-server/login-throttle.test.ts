import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isImError, ErrorCode } from '../common/errors.ts';
import { loadConfig } from './config.ts';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.ts';
import { AddressSet, addressList, sourceKey, unmapIpv4 } from './source-address.ts';

function throttle(opts: Partial<LoginThrottleOptions> = {}): { t: LoginThrottle; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const t = new LoginThrottle({ ratePerSec: 10, burst: 20, maxSources: 1000, exempt: [], ...opts }, () => clock.now);
  return { t, clock };
}

/** How many of `n` attempts from `addr` go ahead. */
function admitted(t: LoginThrottle, addr: string, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (t.attempt(addr) === 0) ok++;
  return ok;
}

test('source keys: IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
  assert.equal(sourceKey('203.0.113.7'), '203.0.113.7');
  assert.equal(sourceKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(sourceKey('::FFFF:cb00:7107'), '203.0.113.7');
  assert.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:0db8:0001:0002::ffff:1'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8:1:3::1'), '2001:db8:1:3::/64');
  assert.equal(sourceKey('::1'), '0:0:0:0::/64');
  assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(sourceKey(''), '');
  assert.equal(unmapIpv4('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(unmapIpv4('2001:db8::1'), '2001:db8::1');
});

test('a burst is let through, then attempts are refused until tokens refill with time', () => {
  const { t, clock } = throttle();
  assert.equal(admitted(t, '198.51.100.1', 30), 20);
  assert.equal(t.stats.throttled, 10);
  clock.now += 99;
  assert.equal(t.attempt('198.51.100.1'), 11, 'less than one token after 99 ms at 10/s');
  clock.now += 1;
  assert.equal(t.attempt('198.51.100.1'), 0, 'one token after 100 ms');
  assert.ok(t.attempt('198.51.100.1') > 0);
  clock.now += 1000;
  assert.equal(admitted(t, '198.51.100.1', 15), 10, '10 tokens a second');
  clock.now += 60_000;
  assert.equal(admitted(t, '198.51.100.1', 30), 20, 'refills to the burst, not beyond');
});

test('the refusal count runs until the source has been quiet long enough to refill', () => {
  const { t, clock } = throttle({ ratePerSec: 1, burst: 2 });
  admitted(t, '198.51.100.2', 2);
  assert.deepEqual([t.attempt('198.51.100.2'), t.attempt('198.51.100.2')], [1, 2]);
  clock.now += 1000;
  assert.equal(t.attempt('198.51.100.2'), 0);
  assert.equal(t.attempt('198.51.100.2'), 3, 'a token let through does not end the flood');
  clock.now += 2000;
  admitted(t, '198.51.100.2', 2);
  assert.equal(t.attempt('198.51.100.2'), 1, 'a full bucket does');
});

test('sources are independent; one IPv6 /64 is one source; a mapped address shares its IPv4 bucket', () => {
  const { t } = throttle({ burst: 5 });
  assert.equal(admitted(t, '192.0.2.1', 10), 5);
  assert.equal(admitted(t, '192.0.2.2', 10), 5, 'another IPv4 address has its own bucket');
  assert.equal(admitted(t, '::ffff:192.0.2.1', 1), 0, 'the mapped form is the same source');
  assert.equal(admitted(t, '2001:db8:0:1::1', 3), 3);
  assert.equal(admitted(t, '2001:db8:0:1::2', 3), 2, 'another address in the same /64 draws on the same bucket');
  assert.equal(admitted(t, '2001:db8:0:2::1', 5), 5, 'another /64 does not');
  assert.equal(t.size, 4);
});

test('the table stays within its cap: full buckets go first, then ones not used lately', () => {
  const { t, clock } = throttle({ ratePerSec: 1, burst: 10, maxSources: 3 });
  admitted(t, '10.0.0.1', 10); // empty
  admitted(t, '10.0.0.2', 1); // 9 tokens: full again after 1 s
  admitted(t, '10.0.0.3', 10); // empty
  clock.now += 1500;
  admitted(t, '10.0.0.4', 1);
  assert.equal(t.size, 3);
  assert.equal(t.stats.evicted, 1);
  // 10.0.0.2 was full, so it went although 10.0.0.1 was used less recently: 10.0.0.1 is still empty-ish.
  assert.equal(admitted(t, '10.0.0.1', 10), 1, 'kept: the drained source did not get a fresh bucket');
  assert.equal(t.size, 3);
  // No bucket is full now: the one not used since the hand last passed (10.0.0.3) makes room.
  admitted(t, '10.0.0.5', 1);
  assert.equal(t.size, 3);
  assert.equal(t.stats.evicted, 2);
  assert.equal(admitted(t, '10.0.0.4', 1), 1);
  assert.equal(admitted(t, '10.0.0.1', 1), 0, 'still tracked, still empty');
  for (let i = 0; i < 5000; i++) t.attempt(`10.1.${i >> 8}.${i & 255}`);
  assert.equal(t.size, 3);
});

test('a source used since the clock hand last passed, refused or not, outlives one that was not', () => {
  const { t } = throttle({ ratePerSec: 1, burst: 1, maxSources: 3 });
  for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']) admitted(t, a, 1); // the hand went round once: 10.0.0.1 made room
  assert.equal(t.stats.evicted, 1);
  assert.ok(t.attempt('10.0.0.2') > 0);
  admitted(t, '10.0.0.5', 1);
  assert.equal(t.stats.evicted, 2);
  assert.equal(admitted(t, '10.0.0.2', 1), 0, '10.0.0.2 was used: still tracked, still empty');
  assert.equal(admitted(t, '10.0.0.3', 1), 1, '10.0.0.3 was not: dropped, starts afresh');
});

test('a hot source costs no more with a full table', () => {
  const { t } = throttle({ maxSources: 50_000 });
  for (let i = 0; i < 50_000; i++) t.attempt(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) t.attempt('192.0.2.77');
  const nsPerAttempt = Number(process.hrtime.bigint() - t0) / 100_000;
  assert.ok(nsPerAttempt < 20_000, `${nsPerAttempt} ns per attempt`);
});

test('exempt addresses and blocks are never throttled nor tracked', () => {
  const { t } = throttle({ burst: 1, exempt: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.9'] });
  assert.equal(admitted(t, '10.2.3.4', 50), 50);
  assert.equal(admitted(t, '::ffff:10.2.3.4', 50), 50);
  assert.equal(admitted(t, '2001:db8:ffff::1', 50), 50);
  assert.equal(admitted(t, '192.0.2.9', 50), 50);
  assert.equal(t.size, 0);
  assert.equal(admitted(t, '192.0.2.10', 50), 1);
  assert.equal(admitted(t, '2001:db9::1', 50), 1);
});

test('address lists: addresses and CIDR blocks, a bad entry is IM_ERR_BAD_CONFIG naming the setting', () => {
  assert.deepEqual(addressList(' 10.0.0.1 , ,2001:db8::/48,::ffff:192.168.0.0/112', 'X'), ['10.0.0.1', '2001:db8::/48', '::ffff:192.168.0.0/112']);
  assert.ok(new AddressSet(['::ffff:192.168.0.0/112']).has('192.168.200.1'));
  assert.ok(!new AddressSet(['::ffff:192.168.0.0/112']).has('192.169.0.1'));
  assert.deepEqual(addressList('', 'X'), []);
  for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.1/', '2001:db8::/129', '::ffff:1.2.3.4/90', '10.0.0.1:80']) {
    assert.throws(
      () => addressList(bad, 'ACCESS_LOGIN_THROTTLE_EXEMPT'),
      (err: unknown) => isImError(err, ErrorCode.BAD_CONFIG) && err.message.includes('ACCESS_LOGIN_THROTTLE_EXEMPT'),
      bad,
    );
  }
});

test('settings: defaults, overrides, and a bad exempt entry stops start-up naming the variable', () => {
  assert.deepEqual({ ...loadConfig({}).loginThrottle }, { ratePerSec: 10, burst: 20, maxSources: 100_000, exempt: [] });
  const c = loadConfig({ ACCESS_LOGIN_RATE_PER_SEC: '3', ACCESS_LOGIN_BURST: '7', ACCESS_LOGIN_THROTTLE_SOURCES: '50', ACCESS_LOGIN_THROTTLE_EXEMPT: '10.0.0.5, 2001:db8::/64' });
  assert.deepEqual({ ...c.loginThrottle, exempt: [...c.loginThrottle.exempt] }, { ratePerSec: 3, burst: 7, maxSources: 50, exempt: ['10.0.0.5', '2001:db8::/64'] });
  assert.ok(Object.isFrozen(c.loginThrottle) && Object.isFrozen(c.loginThrottle.exempt));
  assert.throws(() => loadConfig({ ACCESS_LOGIN_THROTTLE_EXEMPT: '10.0.0.0/8,nginx' }), /ACCESS_LOGIN_THROTTLE_EXEMPT/);
  assert.throws(() => loadConfig({ ACCESS_LOGIN_BURST: '0' }), /ACCESS_LOGIN_BURST/);
  assert.throws(() => loadConfig({ ACCESS_LOGIN_RATE_PER_SEC: '0.5' }), /ACCESS_LOGIN_RATE_PER_SEC/);
});
