/**
 * `npm run shards -- <command>`: the operator's tool for the stored shard
 * map (status, plan, move, split, verify, resume, abort; `--help`). The
 * commands are in scripts/shards/cli.ts.
 */
import { isImError } from '../common/errors.ts';
import { openEnv, runShards } from './shards/cli.ts';

const env = await openEnv().catch((err: unknown) => {
  console.error(`shards: ${(err as Error).message}`);
  process.exit(1);
});
const code = await runShards(process.argv.slice(2), env).catch((err: unknown) => {
  console.error(`shards: ${isImError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}`);
  return 1;
});
await env.close();
process.exit(code);
