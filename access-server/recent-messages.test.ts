import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentMessages } from './delivery.ts';

test('a message seen within the TTL is a duplicate; bounded in count and age', () => {
  const r = new RecentMessages(3, 1000);
  assert.equal(r.check('a', 0), false);
  assert.equal(r.check('a', 500), true);
  assert.equal(r.check('a', 1600), false, 'too old: a new message');
  for (const k of ['b', 'c', 'd']) assert.equal(r.check(k, 1700), false);
  assert.equal(r.size, 3);
  assert.equal(r.check('a', 1700), false, 'the oldest went first');
  assert.equal(r.check('d', 1700), true);
});
