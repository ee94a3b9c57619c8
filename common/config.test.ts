import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boolFromEnv, intFromEnv, requiredUrlFromEnv, stringFromEnv, urlFromEnv } from './config.ts';
import { ErrorCode, isImError } from './errors.ts';

const badConfig = (name: string) => (err: unknown) =>
  isImError(err, ErrorCode.BAD_CONFIG) && err.message.includes(name);

test('intFromEnv reads, defaults and bounds integers', () => {
  assert.equal(intFromEnv({}, 'SHARDS', 8, { min: 1, max: 1024 }), 8);
  assert.equal(intFromEnv({ SHARDS: '' }, 'SHARDS', 8), 8);
  assert.equal(intFromEnv({ SHARDS: ' 16 ' }, 'SHARDS', 8, { min: 1, max: 1024 }), 16);
  for (const bad of ['abc', '1.5', '0', '1025', '8x', '1e3']) {
    assert.throws(() => intFromEnv({ SHARDS: bad }, 'SHARDS', 8, { min: 1, max: 1024 }), badConfig('SHARDS'));
  }
});

test('boolFromEnv and stringFromEnv', () => {
  assert.equal(boolFromEnv({ X: 'yes' }, 'X', false), true);
  assert.equal(boolFromEnv({ X: '0' }, 'X', true), false);
  assert.equal(boolFromEnv({}, 'X', true), true);
  assert.throws(() => boolFromEnv({ X: 'maybe' }, 'X', true), badConfig('X'));
  assert.equal(stringFromEnv({}, 'NAME', 'dflt'), 'dflt');
});

test('urlFromEnv checks the scheme and never echoes the value', () => {
  assert.equal(urlFromEnv({}, 'MYSQL_URL', ['mysql']), undefined);
  const url = 'mysql://root:secret@127.0.0.1:3306/teamtalk';
  assert.equal(urlFromEnv({ MYSQL_URL: url }, 'MYSQL_URL', ['mysql']), url);
  assert.throws(() => urlFromEnv({ MYSQL_URL: 'not a url' }, 'MYSQL_URL', ['mysql']), badConfig('MYSQL_URL'));
  assert.throws(
    () => urlFromEnv({ REDIS_URL: 'http://user:secret@h' }, 'REDIS_URL', ['redis']),
    (err: unknown) => badConfig('REDIS_URL')(err) && !(err as Error).message.includes('secret'),
  );
  assert.throws(() => requiredUrlFromEnv({}, 'REDIS_URL', ['redis']), badConfig('REDIS_URL'));
});
