/**
 * Time figures of one scenario from the load's records: how long after a
 * restarted peer listens acks and pushes are back for every pair, the
 * slowest answer inside the fault, latency quantiles of the well-behaved
 * clients.
 */
import { Histogram } from '../bench/histogram.ts';
import type { LatencySummary } from '../bench/types.ts';
import type { FaultResult } from './faults.ts';
import { expectsPush, type Load, type MsgRecord } from './load.ts';

/** After this long past the fault an answer no longer counts as "during" it. */
const AFTER_FAULT_MS = 1_000;

export interface Recovery {
  /** Max over pairs of: first ack of a message sent after listenAt, minus listenAt (ms); null: some pair got none. */
  ackBackMs: number | null;
  pushBackMs: number | null;
  /** Pairs that sent after listenAt and never got an ack / a push back. */
  ackNeverPairs: number;
  pushNeverPairs: number;
  /** Slowest answer (ack, refusal or timeout) to a message sent during the fault; ms. */
  slowestAnswerMs: number;
  /** Answers to messages sent during the fault, and over the whole scenario. */
  duringFault: LatencySummary;
  overall: LatencySummary;
}

const answered = (m: MsgRecord): boolean => m.msgId >= 0 || m.error === 'IM_ERR_TIMEOUT';

function summary(msgs: MsgRecord[]): LatencySummary {
  const h = new Histogram();
  for (const m of msgs) if (answered(m)) h.record(Math.round((m.answeredAt - m.sentAt) * 1000));
  return h.summary();
}

/** Max over pairs of the first `at(m)` of a message sent after t0 that `ok(m)`; null and counted when a pair has none. */
function backAfter(load: Load, t0: number, wants: (m: MsgRecord) => boolean, ok: (m: MsgRecord) => boolean, at: (m: MsgRecord) => number): { ms: number | null; never: number } {
  let worst = 0;
  let never = 0;
  for (const s of load.pairs) {
    const after = s.msgs.filter((m) => m.sentAt >= t0 && wants(m));
    if (after.length === 0) continue;
    const first = after.filter(ok).map(at).sort((a, b) => a - b)[0];
    if (first === undefined) never++;
    else worst = Math.max(worst, first - t0);
  }
  return { ms: never > 0 ? null : Math.round(worst), never };
}

export function recovery(load: Load, fault: FaultResult | null): Recovery {
  const all = load.pairs.flatMap((s) => s.msgs);
  const from = fault?.faultAt ?? Infinity;
  const to = (fault?.listenAt ?? fault?.endAt ?? -Infinity) + AFTER_FAULT_MS;
  const during = all.filter((m) => m.sentAt >= from && m.sentAt <= to);
  const slowest = during.filter(answered).reduce((a, m) => Math.max(a, m.answeredAt - m.sentAt), 0);
  let ack = { ms: null as number | null, never: 0 };
  let push = { ms: null as number | null, never: 0 };
  if (fault?.listenAt != null) {
    const t0 = fault.listenAt;
    ack = backAfter(load, t0, () => true, (m) => m.msgId > 0, (m) => m.answeredAt);
    const pushWanted = new Set(load.pairs.flatMap((s) => s.msgs.filter((m) => expectsPush(s, m))));
    push = backAfter(load, t0, (m) => pushWanted.has(m), (m) => m.pushes > 0, (m) => m.pushedAt);
  }
  return {
    ackBackMs: ack.ms,
    pushBackMs: push.ms,
    ackNeverPairs: ack.never,
    pushNeverPairs: push.never,
    slowestAnswerMs: Math.round(slowest),
    duringFault: summary(during),
    overall: summary(all),
  };
}

export function emptyRecovery(): Recovery {
  const none = new Histogram().summary();
  return { ackBackMs: null, pushBackMs: null, ackNeverPairs: 0, pushNeverPairs: 0, slowestAnswerMs: 0, duringFault: none, overall: none };
}
