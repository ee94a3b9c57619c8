/** Command line of `npm run chaos`, validated and bounded. */
import { parseArgs } from 'node:util';

/** Every scenario, in the order a default run plays them. */
export const SCENARIOS = [
  'baseline',
  'kill-db-proxy',
  'kill-access',
  'kill-route-one',
  'kill-route-both',
  'term-db-proxy',
  'term-access',
  'term-route',
  'mysql-kill',
  'mysql-freeze',
  'redis-kill',
  'frames',
  'flood',
  'slow-clients',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ChaosOptions {
  scenarios: ScenarioName[];
  /** Seconds of load per scenario (the fault falls inside it). */
  durationS: number;
  /** Random frames over all the ports of the frames scenario. */
  frames: number;
  seed: number;
  /** Sender/receiver pairs per scenario (each scenario has its own users). */
  pairs: number;
  /** Offered msgs/s over all senders. */
  rate: number;
  /** Connections of the flood scenario, per access server. */
  flood: number;
  out: string;
  shards: number;
}

export const USAGE = `usage: npm run chaos -- [options]
  --scenarios a,b,c  which to run, in this order (default: all):
                     ${SCENARIOS.join(', ')}
  --duration S       seconds of paced load per scenario, fault included (default 20)
  --frames N         random frames of the frames scenario, spread over the ports (default 1000000)
  --seed N           seed of the random frames (default 1)
  --pairs N          sender/receiver pairs per scenario (default 30)
  --rate N           offered msgs/s over all senders (default 300)
  --flood N          never-logged-in connections per access server in the flood scenario (default 2000)
  --out DIR          results folder (default bench-results)   --shards N  (default 8)
Loopback only: private MariaDB and Redis under .stack/chaos-<pid>, removed at the end.`;

function int(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name}: ${text} (${min}..${max})`);
  return v;
}

function scenarioList(text: string | undefined): ScenarioName[] {
  if (text === undefined) return [...SCENARIOS];
  return text.split(',').map((s) => {
    const name = s.trim() as ScenarioName;
    if (!SCENARIOS.includes(name)) throw new Error(`--scenarios: unknown ${s} (${SCENARIOS.join(', ')})`);
    return name;
  });
}

export function parseOptions(argv: string[]): ChaosOptions | null {
  const str = { type: 'string' } as const;
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: { scenarios: str, duration: str, frames: str, seed: str, pairs: str, rate: str, flood: str, out: str, shards: str, help: { type: 'boolean' } },
  });
  if (v.help) return null;
  return {
    scenarios: scenarioList(v.scenarios),
    durationS: int(v.duration, 'duration', 20, 8, 300),
    frames: int(v.frames, 'frames', 1_000_000, 0, 100_000_000),
    seed: int(v.seed, 'seed', 1, 0, 2 ** 31),
    pairs: int(v.pairs, 'pairs', 30, 4, 500),
    rate: int(v.rate, 'rate', 300, 10, 5000),
    flood: int(v.flood, 'flood', 2000, 0, 50_000),
    out: v.out ?? 'bench-results',
    shards: int(v.shards, 'shards', 8, 1, 1024),
  };
}
