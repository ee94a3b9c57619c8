/**
 * Shapes shared by the cluster benchmark's orchestrator and its load
 * generator processes; everything here crosses a process boundary as JSON
 * (one line per message: commands on the generator's stdin, answers on its
 * stdout).
 */
import type { LatencySummary } from '../bench/types.ts';

export type { LatencySummary };

export interface ServerAddress {
  host: string;
  port: number;
}

/** One load-generator process: which users it logs in where, and which pairs it drives. */
export interface GeneratorConfig {
  servers: ServerAddress[];
  /** [uid, index into servers] of every user this process logs in. */
  users: [number, number][];
  /** Pair indexes this process sends on (pair p: user 2p+1 → user 2p+2); both users are in `users`. */
  pairs: number[];
  /** Logins in flight at once. */
  loginWindow: number;
  /** Unacked messages one sender may have before it skips its turn. */
  maxInFlightPerSender: number;
  /** IM.BaseDefine.ClientType every connection logs in with. */
  clientType: number;
  /** Answer received messages with CID_MSG_DATA_ACK, as TeamTalk clients do. */
  receiptAcks: boolean;
  requestTimeoutMs: number;
}

export type GeneratorCommand =
  | { cmd: 'login' }
  | { cmd: 'send'; rate: number; durationMs: number; warmupMs: number; drainMs: number }
  | { cmd: 'close' };

export interface LoginResult {
  type: 'login';
  ok: number;
  failed: number;
  /** Epoch ms (sub-ms precision) of the first login sent and the last one answered. */
  startMs: number;
  endMs: number;
  /** Login round trips (µs). */
  latencyUs: number[];
  errors: string[];
}

/** What a generator measured in one send point. */
export interface SendResult {
  type: 'send';
  /** Messages sent in the whole point, and in the measured window. */
  sent: number;
  measuredSent: number;
  acked: number;
  /** Acked with msg_id 0 (not stored). */
  refused: number;
  failed: number;
  /** Turns skipped because the sender had maxInFlightPerSender unacked messages. */
  skipped: number;
  /** Deliveries of messages sent in the measured window. */
  measuredDelivered: number;
  measuredMs: number;
  /** Send → deliver (µs) and send → ack (µs) of messages sent in the measured window. */
  deliverUs: number[];
  ackUs: number[];
  /** Acked and never delivered / delivered twice / delivered out of send order. */
  undelivered: number;
  duplicates: number;
  orderViolations: number;
  /** Per pair: [pair, acked count] over the whole run so far (for --verify). */
  ackedPerPair: [number, number][];
  /** Up to 20 [pair, msgId] acked but not delivered. */
  undeliveredSample: [number, number][];
  cpuPct: number;
  errors: string[];
}

export interface ClosedResult {
  type: 'closed';
}

export type GeneratorAnswer = LoginResult | SendResult | ClosedResult;

export function pairFrom(p: number): number {
  return 2 * p + 1;
}

export function pairTo(p: number): number {
  return 2 * p + 2;
}

/**
 * Which access server (0 or 1) a pair's users log in to: the sender of pair
 * p on p % 2; the receiver on the same server for p % 4 < 2, on the other
 * for the rest. Half the pairs cross servers; each server holds half of
 * the senders and half of the receivers.
 */
export function serversOfPair(p: number): [number, number] {
  const from = p % 2;
  return [from, p % 4 < 2 ? from : 1 - from];
}

/** Marker of answer lines on a generator's stdout. */
export const ANSWER_PREFIX = '@bench ';
