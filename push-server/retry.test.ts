import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FairQueue } from './fair-queue.ts';
import { backoffMs, nextAttemptIn, retryAfterMs, type RetryPolicy } from './retry.ts';

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000, budgetMs: 5000 };

test('Retry-After: delta seconds, an HTTP date, or nothing', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  assert.equal(retryAfterMs('3', now), 3000);
  assert.equal(retryAfterMs(['0'], now), 0);
  assert.equal(retryAfterMs('Wed, 01 May 2024 12:00:10 GMT', now), 10_000);
  assert.equal(retryAfterMs('Wed, 01 May 2024 11:00:00 GMT', now), 0, 'a date in the past: at once');
  assert.equal(retryAfterMs(undefined, now), undefined);
  assert.equal(retryAfterMs('soon', now), undefined);
});

test('backoff: full jitter under a doubling ceiling capped at maxDelayMs; Retry-After wins', () => {
  assert.equal(backoffMs(policy, 1, undefined, () => 0.999999), 100);
  assert.equal(backoffMs(policy, 3, undefined, () => 0.999999), 400);
  assert.equal(backoffMs(policy, 10, undefined, () => 0.999999), 1000);
  assert.equal(backoffMs(policy, 3, undefined, () => 0), 0);
  assert.equal(backoffMs(policy, 1, 2500, () => 0.5), 2500);
});

test('attempts and total time are bounded', () => {
  const t0 = 1_000_000;
  assert.equal(nextAttemptIn(policy, 1, t0, undefined, t0, () => 0.5), 50);
  assert.equal(nextAttemptIn(policy, 4, t0, undefined, t0, () => 0), null, 'maxAttempts reached');
  assert.equal(nextAttemptIn(policy, 2, t0, 6000, t0), null, 'Retry-After beyond the budget');
  assert.equal(nextAttemptIn(policy, 2, t0, undefined, t0 + 4990, () => 1), null, 'budget used up');
});

test('the fair queue serves sources round robin, FIFO within each, and puts retries first', () => {
  const q = new FairQueue<string>();
  for (const x of ['a1', 'a2', 'a3']) q.push(1, x);
  q.push(2, 'b1');
  q.push(3, 'c1');
  q.push(2, 'b2');
  assert.equal(q.size, 6);
  const order: string[] = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) order.push(x);
  assert.deepEqual(order, ['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  q.push(1, 'new');
  q.unshift(1, 'retry');
  assert.deepEqual([q.shift(), q.shift(), q.shift()], ['retry', 'new', undefined]);
  q.push(4, 'x');
  assert.deepEqual(q.drain(), ['x']);
  assert.equal(q.size, 0);
});
