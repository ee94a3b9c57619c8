/**
 * access-server: `npm run access-server`. Reads its settings from the
 * environment (README, Configuration), serves clients until SIGINT/SIGTERM,
 * then shuts down gracefully: requests already read are answered, clients
 * are closed, presence goes offline at the route-servers.
 */
import pino from 'pino';
import { closeOnSignal } from '../common/lifecycle.ts';
import { startAccessServer } from './access-server.ts';
import { loadConfig } from './config.ts';

const config = loadConfig(process.env);
const log = pino({ level: config.logLevel }).child({ proc: 'access-server', instance: config.serverId });

const running = await startAccessServer(config, log);
log.info(
  {
    address: running.address,
    serverId: config.serverId,
    dbProxies: config.dbProxies.length,
    routeServers: config.routeServers.length,
    httpPort: running.httpPort,
  },
  'access-server listening',
);

closeOnSignal(log, () => running.close());
