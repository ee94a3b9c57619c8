import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, type QueuedRequest } from './batcher.ts';
import { OrderGate } from './order-gate.ts';

const opts = { batchMax: 10, batchMaxBytes: 100, batchWindowMs: 0, maxInFlightBatches: 4, maxQueued: 100 };

function req(seqNum: number, commandId: number, keys: string[], bytes = 10): QueuedRequest {
  return { uuid: 1, commandId, seqNum, body: new Uint8Array(0), keys, bytes, deadline: Infinity, answered: false, running: false, cancelled: false };
}

/** A batcher whose batches finish when the test says so. */
function manual(gate: OrderGate<QueuedRequest>, o = opts) {
  const started: QueuedRequest[][] = [];
  const finish: (() => void)[] = [];
  const b = new Batcher(o, gate, (batch) => {
    started.push(batch);
    return new Promise<void>((resolve) => finish.push(resolve));
  });
  return { b, started, finish };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a key waits for its earlier requests in the other batcher, in arrival order', async () => {
  const gate = new OrderGate<QueuedRequest>();
  const commits = manual(gate);
  const others = manual(gate);
  commits.b.add(req(1, 0x301, ['1:2', 'u2']));
  others.b.add(req(2, 0x303, ['1:2', 'u2'])); // read ack of the same conversation
  others.b.add(req(3, 0x307, ['u9'])); // unrelated: goes at once
  await tick();
  assert.deepEqual(commits.started.map((b) => b.map((r) => r.seqNum)), [[1]]);
  assert.deepEqual(others.started.map((b) => b.map((r) => r.seqNum)), [[3]]);
  commits.finish[0]!();
  await tick();
  await tick();
  assert.deepEqual(others.started.map((b) => b.map((r) => r.seqNum)), [[3], [2]]);
  assert.equal(gate.size, 3, 'keys of the running requests');
  others.finish.forEach((f) => f());
  await tick();
  assert.equal(gate.size, 0, 'nothing kept once done');
});

test('one key in one batch only for one command; a cancelled request lets the next go', async () => {
  const gate = new OrderGate<QueuedRequest>();
  const others = manual(gate);
  const a = req(1, 0x303, ['k']);
  const b = req(2, 0x309, ['k']);
  const c = req(3, 0x309, ['k']);
  others.b.add(a);
  others.b.add(b);
  others.b.add(c);
  await tick();
  assert.deepEqual(others.started.map((x) => x.map((r) => r.seqNum)), [[1]]);
  others.finish[0]!();
  await tick();
  await tick();
  assert.deepEqual(others.started.map((x) => x.map((r) => r.seqNum)), [[1], [2, 3]], 'same command, same batch, in order');
  const d = req(4, 0x303, ['k']);
  const e = req(5, 0x303, ['k']);
  others.b.add(d);
  others.b.add(e);
  others.b.cancel(d); // expired while waiting
  others.finish[1]!();
  await tick();
  await tick();
  assert.deepEqual(others.started.at(-1)!.map((r) => r.seqNum), [5]);
});

test('a batch closes at its byte budget', async () => {
  const gate = new OrderGate<QueuedRequest>();
  const commits = manual(gate, { ...opts, maxInFlightBatches: 1 });
  commits.b.add(req(1, 0x301, ['a']));
  await tick();
  for (let i = 2; i <= 6; i++) commits.b.add(req(i, 0x301, [`k${i}`], 40));
  commits.finish[0]!();
  await tick();
  await tick();
  assert.deepEqual(commits.started[1]!.map((r) => r.seqNum), [2, 3], '80 bytes; a third would pass 100');
});
