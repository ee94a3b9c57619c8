/**
 * What each scenario does to the cluster while the load runs. A fault
 * resolves when it is over: the processes it killed are listening again
 * (`listenAt`), a frozen server was continued, hostile clients released.
 * Times are performance.now() of this process.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ClientType, ImSession } from '../../proto/session.ts';
import { startNode } from '../bench-cluster/cluster.ts';
import { userName, userPassword } from '../bench/types.ts';
import { waitUntil } from '../stack-process.ts';
import type { ChaosCluster, ProcName } from './cluster.ts';
import type { PortResult } from './frames-process.ts';
import { holdConnections, slowReader, trickle, type Held } from './hostile.ts';
import { now } from './load.ts';
import type { ChaosOptions, ScenarioName } from './options.ts';
import { Peer } from './peer.ts';
import type { ChaosStorage } from './storage.ts';

export interface FaultContext {
  cluster: ChaosCluster;
  storage: ChaosStorage;
  opts: ChaosOptions;
  /** Users of this scenario beyond its pairs, for the fault's own clients (`extraPair(i)` gives pair i's two users). */
  extraPair: (i: number) => [number, number];
  log: (m: string) => void;
}

export interface FaultResult {
  faultAt: number;
  /** When every process it took away listens again (or was continued); null if none was. */
  listenAt: number | null;
  endAt: number;
  /** The answers of this window count for "every answer within 1.5 s during a storage outage". */
  storageOutage: boolean;
  extra: Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ROUTE_OUTAGE_MS = 5_000;
const FREEZE_MS = 12_000;
const KICK_WAIT_MS = 5_000;
const HOSTILE_HOLD_MS = 12_000;
/** The frames scenario stops sending after this long, whatever is left (the report says how many were sent). */
const FRAMES_MAX_MS = 120_000;
/** Longer than the servers' 30 s link silence timeout, so a trickle that is never dropped shows. */
const TRICKLE_HOLD_MS = 36_000;

async function restartAfter(ctx: FaultContext, names: ProcName[], sig: 'SIGKILL' | 'SIGTERM', downMs = 0): Promise<FaultResult> {
  const faultAt = now();
  await Promise.all(names.map((n) => ctx.cluster.signal(n, sig)));
  if (downMs > 0) await sleep(Math.max(0, faultAt + downMs - now()));
  for (const n of names) await ctx.cluster.restart(n);
  const listenAt = now();
  return { faultAt, listenAt, endAt: listenAt, storageOutage: false, extra: { downMs: Math.round(listenAt - faultAt) } };
}

/** The same PC user logged in on a, Redis loses everything, then on b: the session on a must be kicked. */
async function redisLoss(ctx: FaultContext): Promise<FaultResult> {
  const [uid] = ctx.extraPair(0);
  const first = new Peer(uid, ctx.cluster.servers[0], () => undefined, ClientType.WINDOWS);
  await first.start();
  let kicked = false;
  first.session!.once('kicked', () => (kicked = true));
  const faultAt = now();
  await ctx.storage.kill('redis');
  await ctx.storage.restart('redis');
  const listenAt = now();
  await sleep(1_000);
  const second = new Peer(uid, ctx.cluster.servers[1], () => undefined, ClientType.WINDOWS);
  let secondLogin = 'ok';
  try {
    await second.start();
    await waitUntil(() => kicked, KICK_WAIT_MS, 20);
  } catch (err) {
    secondLogin = (err as Error).message;
  } finally {
    first.stop();
    second.stop();
  }
  return { faultAt, listenAt, endAt: now(), storageOutage: true, extra: { dupLoginKicked: kicked, secondLogin } };
}

async function mysqlKill(ctx: FaultContext): Promise<FaultResult> {
  const faultAt = now();
  await ctx.storage.kill('mysql');
  await ctx.storage.restart('mysql');
  const listenAt = now();
  return { faultAt, listenAt, endAt: listenAt, storageOutage: true, extra: { downMs: Math.round(listenAt - faultAt) } };
}

async function mysqlFreeze(ctx: FaultContext): Promise<FaultResult> {
  const faultAt = now();
  ctx.storage.signal('mysql', 'SIGSTOP');
  try {
    await sleep(FREEZE_MS);
  } finally {
    ctx.storage.signal('mysql', 'SIGCONT');
  }
  const listenAt = now();
  return { faultAt, listenAt, endAt: listenAt, storageOutage: true, extra: { frozenMs: Math.round(listenAt - faultAt) } };
}

const FRAME_PORTS: ProcName[] = ['access-a', 'access-b', 'db-proxy', 'route-1', 'route-2'];

async function frames(ctx: FaultContext): Promise<FaultResult> {
  const resultFile = join(ctx.storage.dir, `frames-${Date.now()}.json`);
  const maxMs = FRAMES_MAX_MS;
  const args = { ports: FRAME_PORTS.map((n) => ctx.cluster.ports.get(n)!), frames: ctx.opts.frames, seed: ctx.opts.seed, maxMs, resultFile };
  const faultAt = now();
  const child = await startNode('frames', 'scripts/chaos/frames-process.ts', { CHAOS_FRAMES: JSON.stringify(args) }, 'frames started', ctx.log);
  await waitUntil(() => child.exited() !== null, maxMs + 30_000, 100);
  await child.stop();
  let perPort: (PortResult & { name: string })[] = [];
  try {
    perPort = (JSON.parse(readFileSync(resultFile, 'utf8')) as PortResult[]).map((r, i) => ({ ...r, name: FRAME_PORTS[i]! }));
  } catch {
    ctx.log(`frames: no result (${child.exited()})`);
  }
  rmSync(resultFile, { force: true });
  const sent = perPort.reduce((a, r) => a + r.sent, 0);
  return { faultAt, listenAt: null, endAt: now(), storageOutage: false, extra: { framesSent: sent, perPort } };
}

/** `opts.flood` never-logged-in connections on access server a; meanwhile new users log in through GET /msg_server. */
async function flood(ctx: FaultContext): Promise<FaultResult> {
  const faultAt = now();
  const held = await holdConnections(ctx.cluster.ports.get('access-a')!, ctx.opts.flood);
  const probes: { ok: boolean; ms: number; error?: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const [uid] = ctx.extraPair(i);
    const t0 = now();
    try {
      const s = await ImSession.login({ routeUrl: ctx.cluster.routeHttp, userName: userName(uid), password: userPassword(uid), requestTimeoutMs: 3_000 });
      probes.push({ ok: true, ms: Math.round(now() - t0) });
      s.destroy();
    } catch (err) {
      probes.push({ ok: false, ms: Math.round(now() - t0), error: (err as Error).message.slice(0, 120) });
    }
    await sleep(HOSTILE_HOLD_MS / 3);
  }
  held.release();
  return { faultAt, listenAt: null, endAt: now(), storageOutage: false, extra: { flood: summary(held), loginProbes: probes } };
}

/** A reader that stops reading gets a stream of pushes; writers trickle one byte a second into every server port. */
async function slowClients(ctx: FaultContext): Promise<FaultResult> {
  const faultAt = now();
  const [readerUid, senderUid] = ctx.extraPair(0);
  const reader = await slowReader(ctx.cluster.ports.get('access-a')!, readerUid);
  const sender = new Peer(senderUid, ctx.cluster.servers[1], () => undefined);
  await sender.start();
  const trickles = new Map<ProcName, Held>();
  for (const n of FRAME_PORTS) trickles.set(n, await trickle(ctx.cluster.ports.get(n)!, 2));
  const blob = 'x'.repeat(3000);
  let pushed = 0;
  const t0 = now();
  while (now() - t0 < TRICKLE_HOLD_MS) {
    if (sender.session && now() - t0 < HOSTILE_HOLD_MS) {
      for (let i = 0; i < 15; i++) void sender.session.sendText(readerUid, `slow ${pushed++} ${blob}`).catch(() => undefined);
    }
    await sleep(100);
  }
  sender.stop();
  const extra: Record<string, unknown> = { slowReader: summary(reader), pushesToSlowReader: pushed };
  for (const [n, h] of trickles) extra[`trickle ${n}`] = summary(h);
  reader.release();
  for (const h of trickles.values()) h.release();
  return { faultAt, listenAt: null, endAt: now(), storageOutage: false, extra };
}

function summary(h: Held): Omit<Held, 'release'> {
  return { opened: h.opened, closedByServer: h.closedByServer, firstCloseMs: h.firstCloseMs, lastCloseMs: h.lastCloseMs };
}

export const FAULTS: Record<ScenarioName, (ctx: FaultContext) => Promise<FaultResult | null>> = {
  baseline: async () => null,
  'kill-db-proxy': (ctx) => restartAfter(ctx, ['db-proxy'], 'SIGKILL'),
  'kill-access': (ctx) => restartAfter(ctx, ['access-b'], 'SIGKILL'),
  'kill-route-one': (ctx) => restartAfter(ctx, ['route-1'], 'SIGKILL'),
  'kill-route-both': (ctx) => restartAfter(ctx, ['route-1', 'route-2'], 'SIGKILL', ROUTE_OUTAGE_MS),
  'term-db-proxy': (ctx) => restartAfter(ctx, ['db-proxy'], 'SIGTERM'),
  'term-access': (ctx) => restartAfter(ctx, ['access-b'], 'SIGTERM'),
  'term-route': (ctx) => restartAfter(ctx, ['route-1'], 'SIGTERM'),
  'mysql-kill': mysqlKill,
  'mysql-freeze': mysqlFreeze,
  'redis-kill': redisLoss,
  frames,
  flood,
  'slow-clients': slowClients,
};
