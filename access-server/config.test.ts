import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from './config.ts';

test('login owners live on REDIS_URL_LOGIN when it is set, else on REDIS_URL; neither: this server only', () => {
  assert.equal(loadConfig({ REDIS_URL: 'redis://a:6379/0' }).redisUrl, 'redis://a:6379/0');
  assert.equal(loadConfig({ REDIS_URL: 'redis://a:6379/0', REDIS_URL_LOGIN: 'redis://b:6380/2' }).redisUrl, 'redis://b:6380/2');
  assert.equal(loadConfig({}).redisUrl, undefined);
  assert.throws(() => loadConfig({ REDIS_URL_LOGIN: 'http://b' }), /REDIS_URL_LOGIN/);
});
