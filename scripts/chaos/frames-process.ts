/**
 * The frames scenario's sender, its own process so that generating and
 * writing a million frames does not slow the well-behaved clients the
 * suite measures meanwhile. Environment: CHAOS_FRAMES, JSON { ports, frames, seed, maxMs,
 * resultFile }. Per port, CONNECTIONS connections at a time each write a
 * batch of BATCH frames and end; the next batch goes on a new connection
 * (servers close a connection at the first frame they cannot frame).
 * Writes { sent, bytes, implausible, connections, refused, ms } per port to
 * resultFile, then exits.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { FrameSource } from './frames.ts';

const BATCH = 1_000;
const CONNECTIONS = 8;
/** After its batch is written, how long a connection waits for the server to close it. */
const CLOSE_WAIT_MS = 500;

interface Args {
  ports: number[];
  frames: number;
  seed: number;
  maxMs: number;
  resultFile: string;
}

export interface PortResult {
  port: number;
  sent: number;
  bytes: number;
  implausible: number;
  connections: number;
  refused: number;
  ms: number;
}

function oneConnection(port: number, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let timer = setTimeout(() => socket.destroy(), 5_000);
    let connected = false;
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('connect', () => {
      connected = true;
      socket.end(bytes, () => {
        clearTimeout(timer);
        timer = setTimeout(() => socket.destroy(), CLOSE_WAIT_MS);
      });
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(connected);
    });
  });
}

async function blast(port: number, frames: number, seed: number, deadline: number): Promise<PortResult> {
  const src = new FrameSource(seed);
  const r: PortResult = { port, sent: 0, bytes: 0, implausible: 0, connections: 0, refused: 0, ms: 0 };
  const t0 = Date.now();
  let queued = 0;
  const worker = async (): Promise<void> => {
    while (queued < frames && Date.now() < deadline) {
      const n = Math.min(BATCH, frames - queued);
      queued += n;
      const ok = await oneConnection(port, src.batch(n));
      r.connections++;
      if (ok) r.sent += n;
      else r.refused++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  r.bytes = src.bytes;
  r.implausible = src.implausible;
  r.ms = Date.now() - t0;
  return r;
}

const args = JSON.parse(process.env.CHAOS_FRAMES ?? '{}') as Args;
console.log(JSON.stringify({ level: 30, msg: 'frames started' }));
const deadline = Date.now() + args.maxMs;
const per = Math.ceil(args.frames / args.ports.length);
const results = await Promise.all(args.ports.map((port, i) => blast(port, per, args.seed + i, deadline)));
writeFileSync(args.resultFile, JSON.stringify(results));
process.exit(0);
