/**
 * msfs: `npm run msfs`. The image (small file) server TeamTalk's clients
 * upload to and download from, at the URL route-server announces as
 * `msfsPrior` (ROUTE_MSFS_URL). Reads its settings from the environment
 * (README, msfs), serves until SIGINT/SIGTERM, then shuts down gracefully:
 * uploads in progress get MSFS_SHUTDOWN_GRACE_MS to finish, the rest are
 * cut and leave nothing behind.
 */
import pino from 'pino';
import { closeOnSignal } from '../common/lifecycle.ts';
import { loadConfig } from './config.ts';
import { startMsfs } from './server.ts';

const config = loadConfig(process.env);
const log = pino({ level: config.logLevel }).child({ proc: 'msfs', instance: process.pid });

const msfs = await startMsfs(config, log);
log.info(
  {
    address: msfs.address,
    root: config.root,
    publicUrl: config.publicUrl ?? msfs.publicUrl,
    maxFileBytes: config.maxFileBytes,
    types: [...config.types.keys()],
  },
  'msfs listening',
);
if (config.publicUrl === undefined && ['0.0.0.0', '::'].includes(config.host)) {
  log.warn('MSFS_PUBLIC_URL is not set: upload answers carry the URL of the Host header each client sent; set it to what ROUTE_MSFS_URL says');
}

closeOnSignal(log, () => msfs.close());
