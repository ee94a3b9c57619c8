/**
 * Before each scenario: the cluster is back to normal, i.e. a message from
 * a user on access server a to one on b is acked and pushed (bounded:
 * HEALTH_WAIT_MS, then the scenario runs anyway and shows what is wrong).
 */
import { pairFrom, pairTo } from '../bench/types.ts';
import type { ChaosCluster } from './cluster.ts';
import { now } from './load.ts';
import { Peer } from './peer.ts';

const HEALTH_WAIT_MS = 30_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** ms until a cross-server message went through, or -1 if none did in time. */
export async function healthy(cluster: ChaosCluster, pair: number, log: (m: string) => void): Promise<number> {
  const t0 = now();
  let pushed = 0;
  const sender = new Peer(pairFrom(pair), cluster.servers[0], () => undefined);
  const receiver = new Peer(pairTo(pair), cluster.servers[1], () => void pushed++);
  // A peer that cannot log in tries again by itself.
  await Promise.all([sender.start().catch(() => undefined), receiver.start().catch(() => undefined)]);
  try {
    while (now() - t0 < HEALTH_WAIT_MS) {
      try {
        if (!sender.session || !receiver.up) throw new Error('not logged in');
        const before = pushed;
        const id = await sender.session.sendText(pairTo(pair), `probe ${Date.now()}`);
        const until = now() + 1_000;
        while (pushed === before && now() < until) await sleep(20);
        if (id > 0 && pushed > before) return Math.round(now() - t0);
      } catch {
        // not yet
      }
      await sleep(200);
    }
    log(`cluster not healthy after ${HEALTH_WAIT_MS} ms`);
    return -1;
  } finally {
    sender.stop();
    receiver.stop();
  }
}
