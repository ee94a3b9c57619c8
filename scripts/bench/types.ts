/**
 * Shapes shared by the benchmark's orchestrator, load generator, baseline,
 * verifier and report. Everything here crosses a process boundary as JSON.
 */

/** One kind of request the load generator can send to db-proxy. */
export type Op = 'single' | 'group' | 'unread' | 'validate' | 'list';
export type Workload = Op | 'mix';
export const OPS: readonly Op[] = ['single', 'group', 'unread', 'validate', 'list'];
export const WORKLOADS: readonly Workload[] = [...OPS, 'mix'];

/** Share of each request kind in the `mix` workload (per 20 requests). */
export const MIX: Readonly<Record<Op, number>> = { single: 10, group: 2, unread: 4, validate: 2, list: 2 };

/**
 * The seeded population. Pair p sends from user 2p+1 to user 2p+2; group g
 * (id groupIdBase + g) has groupSize members taken from the pair users.
 */
export interface Population {
  pairs: number;
  groups: number;
  groupSize: number;
  groupIdBase: number;
}

export function pairFrom(p: number): number {
  return 2 * p + 1;
}

export function pairTo(p: number): number {
  return 2 * p + 2;
}

export function userCount(pop: Population): number {
  return 2 * pop.pairs;
}

/** Member m of group g (a user id). */
export function groupMember(pop: Population, g: number, m: number): number {
  return ((g * pop.groupSize + m) % userCount(pop)) + 1;
}

export function userName(uid: number): string {
  return `bench_u${uid}`;
}

export function userPassword(uid: number): string {
  return `pw-${uid}`;
}

/** What the orchestrator hands one load-generator process. */
export interface GeneratorConfig {
  host: string;
  port: number;
  connections: number;
  /** Requests in flight per connection. */
  window: number;
  /** Stop sending after this long (ms) unless count is set. */
  durationMs: number;
  /** Total requests to send (0 = use durationMs). */
  count: number;
  /** Answers in the first warmupMs are not counted in rate or latency (still recorded for --verify). */
  warmupMs: number;
  /** Per-request timeout. */
  timeoutMs: number;
  /** The request kinds, repeated in this cycle on every connection. */
  cycle: Op[];
  pop: Population;
  /** Where to write acked messages (binary, 3 × u32 each), or null. */
  ackFile: string | null;
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface OpCounts {
  ok: number;
  failed: number;
}

export interface GeneratorResult {
  sent: number;
  ok: number;
  failed: number;
  timeouts: number;
  /** Answers in the measured window (after warm-up). */
  measuredOk: number;
  measuredMs: number;
  /** measuredOk per second. */
  rate: number;
  latency: LatencySummary;
  perOp: Partial<Record<Op, OpCounts>>;
  /** Messages whose msg id was not above the previous one of their conversation. */
  orderViolations: number;
  /** Acked messages written to ackFile. */
  acks: number;
  /** CPU the generator used, in % of one core, over the whole run. */
  cpuPct: number;
  errors: string[];
  /** Successful answers per 100 ms from the generator's start. */
  timeline: number[];
}

/** Ack record kinds in the ack file. */
export const AckKind = { SINGLE: 1, GROUP: 2 } as const;

export interface PointResult {
  workload: Workload;
  /** 'ours' (started by the run) or the --target host:port. */
  target: string;
  /** MariaDB instances the shards were spread over. */
  mysqlInstances: number;
  workers: number;
  connections: number;
  window: number;
  inFlight: number;
  gen: GeneratorResult;
  /** db-proxy process CPU over the point, % of one core. */
  proxyCpuPct: number;
  /** gen.rate / baseline rate at the same in-flight count (single only). */
  ratio: number | null;
}
