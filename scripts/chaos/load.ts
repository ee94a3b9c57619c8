/**
 * The paced chat load of one scenario: `pairs` sender → receiver pairs of
 * its own users (half across the two access servers, one pair in eight
 * with its receiver offline), `rate` msgs/s spread round-robin over the
 * pairs, at most SENDER_WINDOW unanswered per sender. Every message has a
 * unique text, "chaos <scenario> <pair> <seq>", so rows in MySQL can be
 * matched to sends; its answer (msg id, 0, or none) and its pushes are
 * recorded with their times.
 */
import { performance } from 'node:perf_hooks';
import { MsgType, type IncomingMessage } from '../../proto/session.ts';
import { pairFrom, pairTo } from '../bench/types.ts';
import { serversOfPair, type ServerAddress } from '../bench-cluster/types.ts';
import { ANSWER_TIMEOUT_MS, Peer } from './peer.ts';

const TICK_MS = 5;
const SENDER_WINDOW = 20;

export interface MsgRecord {
  pair: number;
  seq: number;
  sentAt: number;
  /** Receiver connection at send time (-1: offline). */
  recvGen: number;
  answeredAt: number;
  /** > 0 acked, 0 refused, -1 no answer (timeout or connection lost), -2 pending. */
  msgId: number;
  error: string;
  pushes: number;
  pushedAt: number;
  pushedMsgId: number;
}

export interface PairState {
  pair: number;
  sender: Peer;
  /** null: this pair's receiver stays offline. */
  receiver: Peer | null;
  cross: boolean;
  msgs: MsgRecord[];
  inFlight: number;
  lastPushedId: number;
  pushOrderViolations: number;
}

export const now = (): number => performance.now();

export class Load {
  readonly pairs: PairState[] = [];
  private readonly byText = new Map<string, MsgRecord>();
  skipped = 0;
  unknownPushes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly scenario: string, firstPair: number, count: number, servers: [ServerAddress, ServerAddress]) {
    for (let i = 0; i < count; i++) {
      const p = firstPair + i;
      const [sa, sb] = serversOfPair(i);
      const onMessage = (m: IncomingMessage): void => this.onPush(m);
      this.pairs.push({
        pair: p,
        sender: new Peer(pairFrom(p), servers[sa]!, () => undefined),
        receiver: i % 8 === 7 ? null : new Peer(pairTo(p), servers[sb]!, onMessage),
        cross: sa !== sb,
        msgs: [],
        inFlight: 0,
        lastPushedId: 0,
        pushOrderViolations: 0,
      });
    }
  }

  textOf(p: number, seq: number): string {
    return `chaos ${this.scenario} ${p} ${seq}`;
  }

  async login(): Promise<void> {
    for (const s of this.pairs) {
      await s.sender.start();
      await s.receiver?.start();
    }
  }

  /** Paced sending for at least minMs and until `done()` (at most maxMs); resolves when the last message is sent. */
  run(rate: number, minMs: number, maxMs: number, done: () => boolean): Promise<void> {
    const t0 = now();
    let sent = 0;
    let cursor = 0;
    return new Promise((resolve) => {
      this.timer = setInterval(() => {
        const t = now();
        const due = Math.floor((rate * (t - t0)) / 1000) - sent;
        for (let i = 0; i < due; i++, sent++) {
          const s = this.pairs[cursor++ % this.pairs.length]!;
          if (!s.sender.session || s.inFlight >= SENDER_WINDOW) this.skipped++;
          else this.send(s);
        }
        if ((t - t0 < minMs || !done()) && t - t0 < maxMs) return;
        clearInterval(this.timer!);
        this.timer = null;
        resolve();
      }, TICK_MS);
    });
  }

  private send(s: PairState): void {
    const seq = s.msgs.length + 1;
    const text = this.textOf(s.pair, seq);
    const r = s.receiver;
    const rec: MsgRecord = { pair: s.pair, seq, sentAt: now(), recvGen: r?.session ? r.gen : -1, answeredAt: 0, msgId: -2, error: '', pushes: 0, pushedAt: 0, pushedMsgId: 0 };
    s.msgs.push(rec);
    this.byText.set(text, rec);
    s.inFlight++;
    s.sender.session!.send(pairTo(s.pair), MsgType.SINGLE_TEXT, Buffer.from(text, 'utf8'), { timeoutMs: ANSWER_TIMEOUT_MS }).then(
      (msgId) => {
        rec.msgId = msgId;
        rec.answeredAt = now();
        s.inFlight--;
      },
      (err: unknown) => {
        rec.msgId = -1;
        rec.answeredAt = now();
        rec.error = (err as { code?: string }).code ?? String(err);
        s.inFlight--;
      },
    );
  }

  private onPush(m: IncomingMessage): void {
    const rec = this.byText.get(m.text);
    if (!rec) return void this.unknownPushes++;
    rec.pushes++;
    if (rec.pushes > 1) return;
    rec.pushedAt = now();
    rec.pushedMsgId = m.msgId;
    const s = this.pairs.find((x) => x.pair === rec.pair)!;
    if (m.msgId <= s.lastPushedId) s.pushOrderViolations++;
    s.lastPushedId = Math.max(s.lastPushedId, m.msgId);
  }

  /** Waits (bounded) until every message has an answer and every acked one an expected push has arrived. */
  async settle(maxMs: number): Promise<void> {
    const deadline = now() + maxMs;
    const done = (): boolean =>
      this.pairs.every((s) => s.inFlight === 0 && s.msgs.every((m) => !(m.msgId > 0 && expectsPush(s, m)) || m.pushes > 0));
    while (now() < deadline && !done()) await new Promise((r) => setTimeout(r, 50));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.pairs) {
      s.sender.stop();
      s.receiver?.stop();
    }
  }
}

/** The receiver was online when the message was sent and kept that connection to the end. */
export function expectsPush(s: PairState, m: MsgRecord): boolean {
  return s.receiver !== null && m.recvGen >= 0 && s.receiver.up && s.receiver.gen === m.recvGen;
}
