/**
 * npm run migrate — brings the database in MYSQL_URL up to date.
 *
 *   MYSQL_URL  mysql://user:pass@host:port/database (database defaults to
 *              teamtalk and is created if missing). When unset, the stack of
 *              `npm run stack -- start` is used if one is running.
 *   SHARDS     number of IMMessage_N / IMGroupMessage_N tables, 1..1024,
 *              default 8 (TeamTalk's own count).
 *   SHARD_MAP  which servers hold which shards (`0-3=mysql://a/db;4-7=mysql://b/db`);
 *              each gets the shard tables it holds (its database created if
 *              missing), checked against SHARDS; unnamed shards stay on MYSQL_URL.
 */
import { intFromEnv, stringFromEnv, urlFromEnv } from '../common/config.ts';
import { isImError } from '../common/errors.ts';
import { MAX_SHARDS, migrate } from '../schema/migrate.ts';
import { runningStack } from './stack.ts';

async function main(): Promise<number> {
  const shards = intFromEnv(process.env, 'SHARDS', 8, { min: 1, max: MAX_SHARDS });
  const url = urlFromEnv(process.env, 'MYSQL_URL', ['mysql']) ?? runningStack()?.mysqlUrl;
  if (url === undefined) {
    console.error(
      'migrate: MYSQL_URL is not set and no embedded stack is running.\n' +
        '  Either start one in another shell:  npm run stack -- start\n' +
        '  or point at a server:               MYSQL_URL=mysql://user:pass@host:3306/teamtalk npm run migrate',
    );
    return 1;
  }
  const t0 = Date.now();
  const result = await migrate({ url, shards, shardMap: stringFromEnv(process.env, 'SHARD_MAP', ''), log: (msg) => console.log(`migrate: ${msg}`) });
  const applied = result.applied.length > 0 ? result.applied.join(', ') : 'nothing new';
  const hosts = result.shardHosts.length > 0 ? `; ${result.shardHosts.length} more server(s) of SHARD_MAP` : '';
  console.log(`migrate: ${result.database} is up to date (${applied}; ${shards} shards${hosts}) in ${Date.now() - t0} ms`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`migrate: ${isImError(err) ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
