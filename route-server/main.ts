/**
 * route-server: `npm run route-server`. Reads its settings from the
 * environment (see README, Configuration), serves access-server links and
 * GET /msg_server until SIGINT/SIGTERM, then shuts down gracefully.
 */
import pino from 'pino';
import { closeOnSignal } from '../common/lifecycle.ts';
import { loadConfig } from './config.ts';
import { startRouteServer } from './route-server.ts';

const config = loadConfig(process.env);
const log = pino({ level: config.logLevel }).child({ proc: 'route-server', instance: process.pid });

const route = await startRouteServer(config, log);
log.info({ links: route.address, http: route.httpAddress, msgServerRegistrations: route.loginAddress }, 'route-server listening');

closeOnSignal(log, () => route.close());
