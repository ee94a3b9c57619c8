/**
 * A load-generator process of `npm run bench:cluster`. Reads its config as
 * the first stdin line, then commands (one JSON line each): `login` logs
 * every user in through ImSession (a bounded window at a time), `send`
 * drives the pairs at a paced rate and measures send → deliver latency (the
 * sender and the receiver of a pair live in this process, so one clock
 * measures both ends), `close` drops every connection and exits. Answers go
 * to stdout as lines starting with ANSWER_PREFIX.
 */
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { ImSession, MsgType, type IncomingMessage } from '../../proto/session.ts';
import { userName, userPassword } from '../bench/types.ts';
import { PairBook } from './pair-book.ts';
import { ANSWER_PREFIX, pairTo, type GeneratorAnswer, type GeneratorCommand, type GeneratorConfig, type LoginResult, type SendResult } from './types.ts';

const PAYLOAD_BYTES = 64;
const TICK_MS = 2;
const sessions = new Map<number, ImSession>();
const errors = new Set<string>();
let closedUnexpectedly = 0;
let config: GeneratorConfig;
let book: PairBook;

function answer(a: GeneratorAnswer): void {
  process.stdout.write(`${ANSWER_PREFIX}${JSON.stringify(a)}\n`);
}

function noteError(err: unknown): void {
  if (errors.size < 10) errors.add(err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err));
}

/**
 * msg_data is text, as TeamTalk clients send it (base64 of their ciphertext;
 * IMMessage.content is a varchar): "<send time ms> <pair> <seq> <measured 0|1> ....".
 */
function payload(sentAt: number, p: number, seq: number, measured: boolean): Buffer {
  return Buffer.from(`${sentAt.toFixed(3)} ${p} ${seq} ${measured ? 1 : 0} `.padEnd(PAYLOAD_BYTES, '.'), 'latin1');
}

function onMessage(m: IncomingMessage): void {
  const [sentAt, p, seq, measured] = m.text.split(' ', 4).map(Number);
  if (sentAt === undefined || p === undefined || seq === undefined || measured === undefined || Number.isNaN(sentAt + p + seq + measured)) return;
  book.delivered(p, seq, m.msgId, sentAt, performance.now(), measured === 1);
}

async function login(): Promise<LoginResult> {
  const queue = [...config.users];
  const latencyUs: number[] = [];
  let ok = 0;
  let failed = 0;
  const startMs = performance.timeOrigin + performance.now();
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [uid, server] = next;
      const t0 = performance.now();
      try {
        const s = await ImSession.login({
          ...config.servers[server]!,
          userName: userName(uid),
          password: userPassword(uid),
          clientType: config.clientType,
          requestTimeoutMs: config.requestTimeoutMs,
          ackReceived: config.receiptAcks,
          // The server's cost, not the sealing's: text goes as it is.
          textForm: 'plain',
        });
        latencyUs.push(Math.round((performance.now() - t0) * 1000));
        sessions.set(uid, s);
        s.on('message', onMessage);
        s.on('close', (err) => {
          if (!sessions.delete(uid)) return;
          closedUnexpectedly++;
          noteError(err);
        });
        ok++;
      } catch (err) {
        failed++;
        noteError(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.loginWindow, config.users.length) }, worker));
  const endMs = performance.timeOrigin + performance.now();
  return { type: 'login', ok, failed, startMs, endMs, latencyUs, errors: [...errors] };
}

async function send(cmd: Extract<GeneratorCommand, { cmd: 'send' }>): Promise<SendResult> {
  const pairs = config.pairs.filter((p) => sessions.has(2 * p + 1) && sessions.has(pairTo(p)));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const warmEnd = t0 + cmd.warmupMs;
  const end = t0 + cmd.durationMs;
  book.startPoint();
  let sent = 0;
  let cursor = 0;
  /** `measured`: the message is due (by the pacing schedule) inside the measured window. */
  const sendOne = (p: number, measured: boolean): void => {
    const now = performance.now();
    const seq = book.nextSeq(p);
    book.sent(p, measured);
    sessions.get(2 * p + 1)!.send(pairTo(p), MsgType.SINGLE_TEXT, payload(now, p, seq, measured)).then(
      (msgId) => book.acked(p, msgId, now, performance.now(), measured),
      (err: unknown) => {
        book.failed(p);
        noteError(err);
      },
    );
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor((cmd.rate * (Math.min(now, end) - t0)) / 1000) - sent;
      for (let i = 0; i < due && pairs.length > 0; i++) {
        const measured = t0 + (sent * 1000) / cmd.rate >= warmEnd;
        sent++;
        let tries = 0;
        for (; tries < pairs.length && book.inFlight(pairs[cursor % pairs.length]!) >= config.maxInFlightPerSender; tries++) cursor++;
        if (tries === pairs.length) book.skip();
        else sendOne(pairs[cursor++ % pairs.length]!, measured);
      }
      if (now < end) return;
      clearInterval(timer);
      resolve();
    }, TICK_MS);
  });
  const measuredMs = end - warmEnd;
  const drainUntil = performance.now() + cmd.drainMs;
  while (performance.now() < drainUntil && !book.settled()) await new Promise((r) => setTimeout(r, 20));
  const cpu = process.cpuUsage(cpu0);
  const cpuPct = Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 1000) / 10;
  return { type: 'send', ...book.pointResult(), measuredMs, cpuPct, errors: closedUnexpectedly > 0 ? [`${closedUnexpectedly} connections closed`, ...errors] : [...errors] };
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) return;
  config = JSON.parse(first.value) as GeneratorConfig;
  book = new PairBook(config.pairs);
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const cmd = JSON.parse(next.value) as GeneratorCommand;
    if (cmd.cmd === 'login') answer(await login());
    else if (cmd.cmd === 'send') answer(await send(cmd));
    else break;
  }
  for (const [uid, s] of sessions) {
    sessions.delete(uid);
    s.destroy();
  }
  answer({ type: 'closed' });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`generator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
