/**
 * The two shortest scenarios of `npm run chaos` on their own private
 * MariaDB and Redis: kill -9 of an access server (restarted at once), and
 * 10,000 random frames at each of the five server ports, both under paced
 * chat load verified message by message against MySQL and Redis.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { runChaos } from '../scripts/chaos/run.ts';
import type { ScenarioReport } from '../scripts/chaos/scenario.ts';
import { PROMISE } from '../scripts/chaos/scenario.ts';

const FRAME_PORTS = 5;

function assertStorageInvariants(r: ScenarioReport): void {
  assert.equal(r.error, undefined, `${r.name} ran`);
  const v = r.verdict;
  assert.ok(v.acked > 100, `${r.name}: ${v.acked} acked, load ran`);
  assert.equal(v.lost, 0, 'acked ⇒ stored with its id');
  assert.equal(v.duplicates, 0, 'stored once');
  assert.equal(v.refusedStored, 0, '"not stored" ⇒ not stored');
  assert.equal(v.orderViolations, 0, 'ids strictly increasing in send order');
  assert.equal(v.unpushedUncounted, 0, 'acked ⇒ pushed or counted unread');
  assert.equal(v.unpushedOnline, 0, 'acked ⇒ pushed to an online receiver');
  assert.equal(v.unreadWrongPairs, 0, `unread counters equal stored rows (${v.notes.join('; ')})`);
  assert.deepEqual(r.died, [], 'no process died');
}

test('chaos: kill -9 of an access server, then random frames at every port', { timeout: 150_000 }, async (t) => {
  const report = await runChaos(
    { scenarios: ['kill-access', 'frames'], durationS: 4, frames: 10_000 * FRAME_PORTS, seed: 7, pairs: 8, rate: 120, flood: 0, out: '', shards: 2 },
    () => undefined,
    'test',
  );
  const [kill, frames] = report.scenarios as [ScenarioReport, ScenarioReport];
  assert.deepEqual(report.unexpectedExits, []);

  await t.test('kill-access: every message kept its promise', () => assertStorageInvariants(kill));
  await t.test('kill-access: acks and pushes back within 1.5 s of the restarted server listening', () => {
    assert.notEqual(kill.recovery.ackBackMs, null, 'acks came back');
    assert.ok(kill.recovery.ackBackMs! <= PROMISE.backMs, `acks back after ${kill.recovery.ackBackMs} ms`);
    assert.notEqual(kill.recovery.pushBackMs, null, 'pushes came back');
    assert.ok(kill.recovery.pushBackMs! <= PROMISE.backMs, `pushes back after ${kill.recovery.pushBackMs} ms`);
  });

  await t.test('frames: every frame was sent and nothing crashed', () => {
    assertStorageInvariants(frames);
    const perPort = frames.fault!.extra.perPort as { sent: number }[];
    assert.equal(perPort.length, FRAME_PORTS);
    for (const p of perPort) assert.equal(p.sent, 10_000);
  });
  await t.test('frames: well-behaved clients keep a p99 under 100 ms', () => {
    assert.ok(frames.recovery.duringFault.p99Ms < PROMISE.framesP99Ms, `p99 ${frames.recovery.duringFault.p99Ms} ms`);
  });
  await t.test('frames: RSS of every server back within 20%', () => {
    for (const [name, m] of Object.entries(frames.memory)) assert.ok(m.growth === null || m.growth <= PROMISE.rssGrowth, `${name}: ${m.growth}`);
  });
});
