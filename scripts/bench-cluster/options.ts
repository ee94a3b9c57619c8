/** Command line of `npm run bench:cluster`, validated and bounded. */
import { parseArgs } from 'node:util';
import { ClientType } from '../../proto/session.ts';

export interface ClusterBenchOptions {
  /** Sender/receiver pairs (2 × pairs logged-in clients). */
  pairs: number;
  /** Offered message rates, msgs/s over all senders, one point each. */
  rates: number[];
  durationS: number;
  warmupS: number;
  /** Load-generator processes for the pairs. */
  generators: number;
  /** Idle logged-in connections on access server a (0 skips the memory phase). */
  idle: number;
  loginWindow: number;
  maxInFlightPerSender: number;
  receiptAcks: boolean;
  /** IM.BaseDefine.ClientType of every connection. */
  clientType: number;
  verify: boolean;
  keep: boolean;
  out: string;
  shards: number;
}

export const USAGE = `usage: npm run bench:cluster -- [options]
  --pairs N          sender/receiver pairs; 2N clients over two access servers, half the pairs
                     across servers (default 1000)
  --rate LIST        offered msgs/s over all senders, one point each (default 2000,5000,8000)
  --duration S       seconds per point (default 8)   --warmup S  not measured (default 1)
  --generators N     load-generator processes for the pairs (default 2)
  --idle N           idle logged-in connections on access server a for the memory figure
                     (default 20000; 0 skips). Needs file descriptors: see ulimit -n
  --login-window N   logins in flight per generator (default 256)
  --sender-window N  unacked messages per sender before it skips a turn (default 32)
  --no-receipt-acks  receivers do not answer messages with CID_MSG_DATA_ACK
  --client android|ios|pc|mac  client type of every connection (default android). Every
                     PC login or logout is pushed to every online PC client (TeamTalk's
                     presence broadcast), so with pc a login storm costs O(online) each
  --verify           every acked message delivered, or stored and counted unread
  --out DIR          results folder (default bench-results)   --keep  keep database and keys
  --shards N         (default 8)`;

function int(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name}: ${text} (${min}..${max})`);
  return v;
}

const CLIENT_TYPES: Record<string, number> = { pc: ClientType.WINDOWS, mac: ClientType.MAC, ios: ClientType.IOS, android: ClientType.ANDROID };

function clientTypeOf(name: string): number {
  const t = CLIENT_TYPES[name];
  if (t === undefined) throw new Error(`--client: ${name} (${Object.keys(CLIENT_TYPES).join('|')})`);
  return t;
}

export function parseOptions(argv: string[]): ClusterBenchOptions | null {
  const str = { type: 'string' } as const;
  const bool = { type: 'boolean' } as const;
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      pairs: str, rate: str, duration: str, warmup: str, generators: str, idle: str, 'login-window': str, 'sender-window': str,
      out: str, shards: str, client: str, 'no-receipt-acks': bool, verify: bool, keep: bool, help: bool,
    },
  });
  if (v.help) return null;
  const rates = (v.rate ?? '2000,5000,8000').split(',').map((r) => int(r.trim(), 'rate', 0, 1, 200_000));
  const durationS = int(v.duration, 'duration', 8, 1, 300);
  return {
    pairs: int(v.pairs, 'pairs', 1000, 2, 50_000),
    rates,
    durationS,
    warmupS: int(v.warmup, 'warmup', Math.min(1, durationS - 1), 0, durationS - 1),
    generators: int(v.generators, 'generators', 2, 1, 16),
    idle: int(v.idle, 'idle', 20_000, 0, 200_000),
    loginWindow: int(v['login-window'], 'login-window', 256, 1, 10_000),
    maxInFlightPerSender: int(v['sender-window'], 'sender-window', 32, 1, 1000),
    receiptAcks: v['no-receipt-acks'] !== true,
    clientType: clientTypeOf(v.client ?? 'android'),
    verify: v.verify === true,
    keep: v.keep === true,
    out: v.out ?? 'bench-results',
    shards: int(v.shards, 'shards', 8, 1, 1024),
  };
}
