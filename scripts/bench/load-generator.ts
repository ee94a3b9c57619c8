/**
 * The load generator: its own process (forked by the orchestrator with
 * `node --import tsx`), config in BENCH_GENERATOR_CONFIG, result sent back
 * over IPC. Raw sockets, pre-encoded PDUs, seq-indexed typed arrays: the
 * generator stays cheap so db-proxy is what gets measured.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { authenticateSocket, clusterSecretFromEnv, PROCESS_INSTANCE } from '../../common/cluster-auth.ts';
import { FrameDecoder } from '../../proto/frame-decoder.ts';
import { AckLog } from './ack-log.ts';
import { Histogram } from './histogram.ts';
import { answerValue, buildTemplates } from './workload.ts';
import { AckKind, OPS, type GeneratorConfig, type GeneratorResult, type Op, type OpCounts } from './types.ts';

const cfg = JSON.parse(process.env.BENCH_GENERATOR_CONFIG ?? 'null') as GeneratorConfig;
const templates = buildTemplates(cfg.pop, cfg.cycle);
const hist = new Histogram();
const acks = new AckLog(cfg.ackFile);
const perOp = Object.fromEntries(OPS.map((o) => [o, { ok: 0, failed: 0 }])) as Record<Op, OpCounts>;
const lastSingle = new Uint32Array(cfg.pop.pairs);
const lastGroup = new Uint32Array(cfg.pop.groups);
const stats = { sent: 0, ok: 0, failed: 0, timeouts: 0, measuredOk: 0, orderViolations: 0 };
const errors: string[] = [];
/** Answers per TIMELINE_MS since the start: a throughput dip shows here. */
const TIMELINE_MS = 100;
const timeline: number[] = [];
let startAt = 0;
let measureFrom = 0;
let lastAnswerAt = 0;
let sending = true;

function noteError(msg: string): void {
  if (errors.length < 20) errors.push(msg);
}

class Conn {
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly sentAt = new Float64Array(65536);
  private readonly slotOp = new Uint8Array(65536); // OPS index + 1; 0 = free
  private readonly slotTarget = new Uint32Array(65536);
  /** Seqs whose request timed out: never reused until their late answer comes (then dropped). */
  private readonly retired = new Uint8Array(65536);
  private retiredCount = 0;
  private readonly cursors = new Uint32Array(OPS.length);
  private cyclePos = 0;
  private nextSeq = 1;
  inFlight = 0;

  constructor(
    private readonly index: number,
    socket: net.Socket,
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.resume(); // left paused by the handshake
    socket.on('error', (err) => noteError(`connection ${index}: ${err.message}`));
    socket.on('close', () => this.failAll('connection closed'));
  }

  /** The next target of `op` for this connection, or -1 if it owns none. */
  private target(op: Op, k: number): number {
    const c = this.index;
    const n = cfg.connections;
    const { pairs, groups, groupSize } = cfg.pop;
    if (op === 'single') return pairs > c ? c + (k % Math.ceil((pairs - c) / n)) * n : -1;
    if (op === 'group') {
      if (groups <= c) return -1;
      const owned = Math.ceil((groups - c) / n);
      return (c + (k % owned) * n) * groupSize + (Math.floor(k / owned) % groupSize);
    }
    const size = templates.pdus[op].length;
    return (c + k * n) % size;
  }

  fill(): void {
    const out: Buffer[] = [];
    for (let tries = 0; this.inFlight < cfg.window && this.inFlight + this.retiredCount < 0xfffe && sending && tries < cfg.cycle.length; ) {
      if (cfg.count > 0 && stats.sent >= cfg.count) break;
      const op = cfg.cycle[this.cyclePos]!;
      this.cyclePos = (this.cyclePos + 1) % cfg.cycle.length;
      const opIndex = OPS.indexOf(op);
      const target = this.target(op, this.cursors[opIndex]!++);
      if (target < 0) {
        tries++;
        continue;
      }
      tries = 0;
      let seq = this.nextSeq;
      while (this.slotOp[seq] !== 0 || this.retired[seq] !== 0) seq = seq >= 0xffff ? 1 : seq + 1;
      this.nextSeq = seq >= 0xffff ? 1 : seq + 1;
      const tpl = templates.pdus[op][target]!;
      const pdu = Buffer.allocUnsafe(tpl.length);
      tpl.copy(pdu);
      pdu.writeUInt16BE(seq, 12);
      out.push(pdu);
      this.slotOp[seq] = opIndex + 1;
      this.slotTarget[seq] = target;
      this.sentAt[seq] = performance.now();
      this.inFlight++;
      stats.sent++;
    }
    if (out.length > 0) this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      noteError(`connection ${this.index}: ${(err as Error).message}`);
      this.socket.destroy();
      return;
    }
    const now = performance.now();
    for (const { header, body } of frames) {
      const seq = header.seqNum;
      if (this.retired[seq] !== 0) {
        // The late answer of a request that timed out: its seq is free again, the answer is not anyone's.
        this.retired[seq] = 0;
        this.retiredCount--;
        continue;
      }
      const opIndex = this.slotOp[seq]! - 1;
      if (seq === 0 || opIndex < 0) continue; // heartbeat, stop-recv, or an answer matching nothing
      const op = OPS[opIndex]!;
      if (header.commandId !== templates.answer[op]) continue; // not the answer this request waits for
      this.slotOp[seq] = 0;
      this.inFlight--;
      const value = answerValue(op, body);
      if (value <= 0) {
        stats.failed++;
        perOp[op].failed++;
        continue;
      }
      stats.ok++;
      perOp[op].ok++;
      lastAnswerAt = now;
      const bucket = Math.floor((now - startAt) / TIMELINE_MS);
      timeline[bucket] = (timeline[bucket] ?? 0) + 1;
      if (now >= measureFrom) {
        stats.measuredOk++;
        hist.record((now - this.sentAt[seq]!) * 1000);
      }
      if (op === 'single' || op === 'group') this.acked(op, this.slotTarget[seq]!, value);
    }
    this.fill();
    maybeFinish();
  }

  private acked(op: 'single' | 'group', target: number, msgId: number): void {
    const conv = op === 'single' ? target : Math.floor(target / cfg.pop.groupSize);
    const last = op === 'single' ? lastSingle : lastGroup;
    if (msgId <= last[conv]!) stats.orderViolations++;
    last[conv] = msgId;
    acks.add(op === 'single' ? AckKind.SINGLE : AckKind.GROUP, target, msgId);
  }

  /** Fails requests older than the timeout (or all of them). */
  expire(now: number, all = false): void {
    if (this.inFlight === 0) return;
    for (let seq = 1; seq < 65536; seq++) {
      if (this.slotOp[seq] === 0 || (!all && now - this.sentAt[seq]! < cfg.timeoutMs)) continue;
      perOp[OPS[this.slotOp[seq]! - 1]!].failed++;
      this.slotOp[seq] = 0;
      if (!all) {
        this.retired[seq] = 1;
        this.retiredCount++;
      }
      this.inFlight--;
      stats.failed++;
      stats.timeouts++;
    }
  }

  failAll(reason: string): void {
    if (this.inFlight > 0) noteError(`connection ${this.index}: ${reason} with ${this.inFlight} in flight`);
    this.expire(0, true);
    this.retired.fill(0);
    this.retiredCount = 0;
    maybeFinish();
  }

  close(): void {
    this.socket.destroy();
  }
}

const clusterSecret = clusterSecretFromEnv(process.env);

async function connect(i: number): Promise<Conn> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: cfg.host, port: cfg.port });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
  if (clusterSecret) await authenticateSocket(socket, clusterSecret, { role: 'tool', name: `bench-generator-${i}`, instance: PROCESS_INSTANCE });
  return new Conn(i, socket);
}

const conns = await Promise.all(Array.from({ length: cfg.connections }, (_, i) => connect(i)));
process.send!({ type: 'start' });
const cpu0 = process.cpuUsage();
startAt = performance.now();
measureFrom = startAt + cfg.warmupMs;
let finished = false;
const sweeper = setInterval(() => {
  const now = performance.now();
  if (sending && cfg.count === 0 && now - startAt >= cfg.durationMs) sending = false;
  for (const c of conns) c.expire(now);
  maybeFinish();
}, 200);
for (const c of conns) c.fill();

function maybeFinish(): void {
  if (finished || startAt === 0) return;
  const countDone = cfg.count > 0 && stats.sent >= cfg.count;
  if ((sending && !countDone) || conns.some((c) => c.inFlight > 0)) return;
  finished = true;
  clearInterval(sweeper);
  const wallMs = performance.now() - startAt;
  const cpu = process.cpuUsage(cpu0);
  for (const c of conns) c.close();
  const measuredMs = Math.max(1, lastAnswerAt - Math.min(measureFrom, lastAnswerAt));
  const result: GeneratorResult = {
    ...stats,
    measuredMs: Math.round(measuredMs),
    rate: Math.round((stats.measuredOk * 1000) / measuredMs),
    latency: hist.summary(),
    perOp: Object.fromEntries(Object.entries(perOp).filter(([, v]) => v.ok + v.failed > 0)),
    acks: acks.count,
    cpuPct: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
    errors,
    timeline: Array.from(timeline, (n) => n ?? 0),
  };
  acks.close();
  process.send!({ type: 'result', result }, () => process.exit(0));
}
