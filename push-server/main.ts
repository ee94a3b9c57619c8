/**
 * push-server: `npm run push-server`. TeamTalk's push_server counterpart:
 * takes CID_OTHER_PUSH_TO_USER_REQ from access servers (PUSH_SERVERS there)
 * and delivers to APNs (iOS) and FCM (Android). Reads its settings from the
 * environment (see README, push-server), serves until SIGINT/SIGTERM, then
 * shuts down gracefully.
 */
import pino from 'pino';
import { closeOnSignal } from '../common/lifecycle.ts';
import { loadConfig } from './config.ts';
import { startPushServer } from './push-server.ts';

const config = loadConfig(process.env);
const log = pino({ level: config.logLevel }).child({ proc: 'push-server', instance: process.pid });

const push = await startPushServer(config, log);
log.info({ links: push.address, ops: push.opsPort, apns: config.apns?.url ?? null, fcm: config.fcm?.url ?? null }, 'push-server listening');

closeOnSignal(log, () => push.close());
