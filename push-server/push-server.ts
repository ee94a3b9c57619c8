import pino, { type Logger } from 'pino';
import { startOpsHttp, type OpsServer } from '../common/ops-http.ts';
import { ApnsProvider } from './apns.ts';
import type { PushServerConfig } from './config.ts';
import { PushEngine } from './engine.ts';
import { FcmProvider } from './fcm.ts';
import { H2Client } from './h2-client.ts';
import { registry } from './handlers/index.ts';
import { metricsOf, newStats, type PushStats } from './metrics.ts';
import { AccessTokens } from './oauth.ts';
import { PushListener } from './server.ts';
import type { Provider } from './types.ts';

export interface RunningPushServer {
  /** Where access servers connect. */
  address: { host: string; port: number };
  /** Where /metrics and /healthz are served. */
  opsPort: number;
  stats: PushStats;
  engine: PushEngine;
  /** Provider HTTP/2 clients by name (sessions opened: tests). */
  clients: { apns: H2Client | null; fcm: H2Client | null };
  /**
   * Graceful: stop accepting links and reading requests, let accepted
   * pushes finish within the grace period (answered), fail the rest
   * (answered too), end the links, close the providers and the ops
   * endpoint. Idempotent.
   */
  close(): Promise<void>;
  /** Immediate: drop links and provider sessions. */
  destroy(): void;
}

/** Builds the providers that are configured, the engine, the link listener and the ops endpoint. */
export async function startPushServer(config: Readonly<PushServerConfig>, log: Logger = pino({ level: 'silent' })): Promise<RunningPushServer> {
  const stats = newStats();
  const providers: Provider[] = [];
  const clients: RunningPushServer['clients'] = { apns: null, fcm: null };
  const httpOpts = { ca: config.http.ca, timeoutMs: config.http.timeoutMs };
  if (config.apns) {
    clients.apns = new H2Client(config.apns.url, httpOpts, log.child({ provider: 'apns' }));
    providers.push(new ApnsProvider(config.apns, clients.apns, log.child({ provider: 'apns' })));
  }
  if (config.fcm) {
    clients.fcm = new H2Client(config.fcm.url, httpOpts, log.child({ provider: 'fcm' }));
    const tokens = new AccessTokens(config.fcm.account, httpOpts, log.child({ provider: 'fcm-oauth' }));
    providers.push(new FcmProvider(config.fcm, clients.fcm, tokens, log.child({ provider: 'fcm' })));
  }
  if (providers.length === 0) log.warn('neither APNS_KEY_FILE nor FCM_SERVICE_ACCOUNT_FILE is set: every push is answered failed');
  const engine = new PushEngine(providers, config.engine, stats, log);
  const listener = new PushListener(config, { engine, stats }, registry, log);
  let address: { host: string; port: number };
  let ops: OpsServer;
  try {
    address = await listener.listen();
    ops = await startOpsHttp(config.opsHost, config.opsPort, {
      health: () => ({ ok: true, links: stats.links, apns: config.apns !== null, fcm: config.fcm !== null, queued: engine.queued }),
      metrics: () => metricsOf(stats, engine),
    });
  } catch (err) {
    listener.destroy();
    for (const p of providers) p.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    address,
    opsPort: ops.port,
    stats,
    engine,
    clients,
    close() {
      closing ??= (async () => {
        listener.stopIntake();
        await engine.close(config.shutdownGraceMs);
        // The answers of the last settled pushes are written on the microtasks that follow.
        await new Promise((r) => setImmediate(r));
        await listener.close(1000);
        await ops.close();
      })();
      return closing;
    },
    destroy() {
      listener.destroy();
      void engine.close(0);
      void ops.close();
    },
  };
}
