import pino, { type Logger } from 'pino';
import { processMetrics } from '../common/ops-http.ts';
import type { RouteServerConfig } from './config.ts';
import { registry } from './handlers/index.ts';
import { startBalancerHttp, type BalancerHttp } from './http.ts';
import type { PresenceTable } from './presence.ts';
import { RouteServer } from './server.ts';

export interface RunningRouteServer {
  /** Where access servers connect. */
  address: { host: string; port: number };
  /** Where GET /msg_server, /healthz and /metrics are served. */
  httpAddress: { host: string; port: number };
  presence: PresenceTable;
  server: RouteServer;
  /** Graceful: stop accepting, end links (destroyed after the grace period), close HTTP. Idempotent. */
  close(): Promise<void>;
  /** Immediate: drop every link and stop listening. */
  destroy(): void;
}

/** Starts the link listener and the HTTP endpoint; nothing else to open. */
export async function startRouteServer(config: Readonly<RouteServerConfig>, log: Logger = pino({ level: 'silent' })): Promise<RunningRouteServer> {
  const server = new RouteServer(config, registry, log);
  const address = await server.listen();
  let http: BalancerHttp;
  try {
    http = await startBalancerHttp(
      {
        host: config.httpHost,
        port: config.httpPort,
        maxConnections: config.httpMaxConnections,
        requestTimeoutMs: config.httpRequestTimeoutMs,
        msfsUrl: config.msfsUrl,
        discoveryUrl: config.discoveryUrl,
      },
      {
        pick: () => server.presence.pickLeastLoaded(),
        health: () => ({ ok: true, servers: server.presence.serverCount, users: server.presence.userCount }),
        metrics: () => {
          const s = server.stats;
          return [
            { name: 'route_links', help: 'Open access-server links.', type: 'gauge', value: s.links },
            { name: 'route_servers', help: 'Registered access servers.', type: 'gauge', value: server.presence.serverCount },
            { name: 'route_users_online', help: 'Users with a connection on some access server.', type: 'gauge', value: server.presence.userCount },
            { name: 'route_pdus_in_total', help: 'PDUs read from access servers (heartbeats excluded).', type: 'counter', value: s.pdusIn },
            { name: 'route_forwarded_total', help: 'PDUs written to access servers.', type: 'counter', value: s.forwarded },
            { name: 'route_unrouted_total', help: 'Deliveries and kicks with no server to go to.', type: 'counter', value: s.unrouted },
            { name: 'route_bad_bodies_total', help: 'PDUs whose body did not decode.', type: 'counter', value: s.badBodies },
            { name: 'route_unknown_commands_total', help: 'PDUs with a command id route-server does not serve.', type: 'counter', value: s.unknownCommands },
            { name: 'route_links_refused_total', help: 'Links dropped for want of room (handshakes or ROUTE_MAX_LINKS).', type: 'counter', value: s.linksRefused },
            { name: 'route_registrations_refused_total', help: 'Registrations refused: a live server id, or not the authenticated one.', type: 'counter', value: s.registrationsRefused },
            { name: 'route_unregistered_reports_total', help: 'Presence reports from links that had not registered (ignored).', type: 'counter', value: s.unregisteredReports },
            ...processMetrics('route'),
          ];
        },
      },
      log,
    );
  } catch (err) {
    server.destroy();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    address,
    httpAddress: http.address,
    presence: server.presence,
    server,
    close() {
      closing ??= Promise.all([server.close(), http.close()]).then(() => undefined);
      return closing;
    },
    destroy() {
      server.destroy();
      void http.close();
    },
  };
}
