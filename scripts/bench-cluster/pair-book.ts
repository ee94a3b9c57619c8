/**
 * Per-pair bookkeeping of a load generator: what was sent, acked (with
 * which msg id) and delivered, so a point can report latency, loss,
 * duplicates and order. A delivery may arrive before its ack; both orders
 * are matched.
 */
import type { SendResult } from './types.ts';

type PointCounts = Omit<SendResult, 'type' | 'measuredMs' | 'cpuPct' | 'errors'>;

interface PairState {
  seq: number;
  inFlight: number;
  ackedTotal: number;
  lastAckedMsgId: number;
  lastDeliveredSeq: number;
  lastDeliveredMsgId: number;
  /** Acked, not delivered yet. */
  waiting: Set<number>;
  /** Delivered, ack not seen yet. */
  early: Set<number>;
  /** Every msg id delivered (duplicate detection). */
  seen: Set<number>;
}

export class PairBook {
  private readonly pairs = new Map<number, PairState>();
  private point = PairBook.emptyPoint();

  constructor(pairs: number[]) {
    for (const p of pairs) {
      this.pairs.set(p, {
        seq: 0, inFlight: 0, ackedTotal: 0, lastAckedMsgId: 0, lastDeliveredSeq: 0, lastDeliveredMsgId: 0,
        waiting: new Set(), early: new Set(), seen: new Set(),
      });
    }
  }

  private static emptyPoint(): Omit<PointCounts, 'undelivered' | 'ackedPerPair' | 'undeliveredSample'> {
    return { sent: 0, measuredSent: 0, acked: 0, refused: 0, failed: 0, skipped: 0, measuredDelivered: 0, deliverUs: [], ackUs: [], duplicates: 0, orderViolations: 0 };
  }

  startPoint(): void {
    this.point = PairBook.emptyPoint();
  }

  nextSeq(p: number): number {
    return ++this.pairs.get(p)!.seq;
  }

  inFlight(p: number): number {
    return this.pairs.get(p)!.inFlight;
  }

  sent(p: number, measured: boolean): void {
    this.pairs.get(p)!.inFlight++;
    this.point.sent++;
    if (measured) this.point.measuredSent++;
  }

  skip(): void {
    this.point.skipped++;
  }

  failed(p: number): void {
    this.pairs.get(p)!.inFlight--;
    this.point.failed++;
  }

  /** `measured`: the message was due inside the point's measured window. */
  acked(p: number, msgId: number, sentAt: number, now: number, measured: boolean): void {
    const s = this.pairs.get(p)!;
    s.inFlight--;
    if (msgId === 0) return void this.point.refused++;
    this.point.acked++;
    s.ackedTotal++;
    if (msgId <= s.lastAckedMsgId) this.point.orderViolations++;
    s.lastAckedMsgId = msgId;
    if (measured) this.point.ackUs.push(Math.round((now - sentAt) * 1000));
    if (!s.early.delete(msgId)) s.waiting.add(msgId);
  }

  delivered(p: number, seq: number, msgId: number, sentAt: number, now: number, measured: boolean): void {
    const s = this.pairs.get(p);
    if (!s) return;
    if (s.seen.has(msgId)) return void this.point.duplicates++;
    s.seen.add(msgId);
    if (seq <= s.lastDeliveredSeq || msgId <= s.lastDeliveredMsgId) this.point.orderViolations++;
    s.lastDeliveredSeq = Math.max(seq, s.lastDeliveredSeq);
    s.lastDeliveredMsgId = Math.max(msgId, s.lastDeliveredMsgId);
    if (measured) {
      this.point.measuredDelivered++;
      this.point.deliverUs.push(Math.round((now - sentAt) * 1000));
    }
    if (!s.waiting.delete(msgId)) s.early.add(msgId);
  }

  /** Nothing in flight and every acked message delivered. */
  settled(): boolean {
    for (const s of this.pairs.values()) if (s.inFlight > 0 || s.waiting.size > 0) return false;
    return true;
  }

  pointResult(): PointCounts {
    let undelivered = 0;
    const undeliveredSample: [number, number][] = [];
    const ackedPerPair: [number, number][] = [];
    for (const [p, s] of this.pairs) {
      undelivered += s.waiting.size;
      for (const id of s.waiting) if (undeliveredSample.length < 20) undeliveredSample.push([p, id]);
      if (s.ackedTotal > 0) ackedPerPair.push([p, s.ackedTotal]);
    }
    return { ...this.point, undelivered, undeliveredSample, ackedPerPair };
  }
}
