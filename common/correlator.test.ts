import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Correlator } from './correlator.ts';
import { isImError } from './errors.ts';

const never = (): string => 'test request';

// Request timers are unref'd (a process with nothing else to do may exit); keep this one alive.
const keepAlive = setInterval(() => {}, 1000);
after(() => clearInterval(keepAlive));

test('a timed-out seq is never handed to another request, even after the 16-bit space wraps', async () => {
  const c = new Correlator<string>({ space: 'seq', maxPending: 70_000 });
  const first = c.open(1, 0x0302, never);
  await assert.rejects(first.answer, (e) => isImError(e, 'IM_ERR_TIMEOUT'));
  const seen = new Set<number>();
  for (let i = 0; i < 0xffff * 2; i++) {
    const r = c.open(60_000, 0x0302, never);
    assert.notEqual(r.id, first.id);
    seen.add(r.id);
    assert.equal(c.settle(r.id, 0x0302, () => 'ok'), 'settled');
    await r.answer;
  }
  assert.equal(seen.size, 0xffff - 1);
  // Its late answer is recognised as late (and dropped), then the id is free again.
  assert.equal(c.settle(first.id, 0x0302, () => 'late'), 'late');
  assert.equal(c.retiredCount, 0);
});

test('an answer of another command does not settle a request', async () => {
  const c = new Correlator<string>({ space: 'seq', maxPending: 10 });
  const r = c.open(60_000, 0x0302, never);
  assert.equal(c.settle(r.id, 0x0403, () => 'push'), 'unknown');
  assert.equal(c.settle(r.id, 0x0302, () => 'answer'), 'settled');
  assert.equal(await r.answer, 'answer');
});

test('request ids only grow; a late answer finds nothing', async () => {
  const c = new Correlator<string>({ space: 'request', maxPending: 10 });
  const a = c.open(1, undefined, never);
  await assert.rejects(a.answer, (e) => isImError(e, 'IM_ERR_TIMEOUT'));
  const b = c.open(60_000, undefined, never);
  assert.ok(b.id > a.id);
  assert.equal(c.settle(a.id, 1, () => 'late'), 'unknown');
  c.failAll(new Error('down'));
  await assert.rejects(b.answer, /down/);
});

test('too many retired seq ids refuse new requests', async () => {
  const c = new Correlator<string>({ space: 'seq', maxPending: 100, maxRetired: 3 });
  const timed = [0, 1, 2].map(() => c.open(1, undefined, never).answer.catch(() => undefined));
  await Promise.all(timed);
  assert.throws(() => c.open(1000, undefined, never), (e) => isImError(e, 'IM_ERR_TOO_MANY_IN_FLIGHT'));
  const full = new Correlator<string>({ space: 'request', maxPending: 1 });
  full.open(1000, undefined, never).answer.catch(() => undefined);
  assert.throws(() => full.open(1000, undefined, never), (e) => isImError(e, 'IM_ERR_TOO_MANY_IN_FLIGHT'));
  full.failAll(new Error('done'));
});
