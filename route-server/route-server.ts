import pino, { type Logger } from 'pino';
import { processMetrics, type Metric } from '../common/ops-http.ts';
import type { RouteServerConfig } from './config.ts';
import { registry } from './handlers/index.ts';
import { startBalancerHttp, type BalancerHttp } from './http.ts';
import { LoginPort, pickAcross } from './login-port.ts';
import type { PresenceTable } from './presence.ts';
import { RouteServer } from './server.ts';

export interface RunningRouteServer {
  /** Where access servers connect. */
  address: { host: string; port: number };
  /** Where GET /msg_server, /healthz and /metrics are served. */
  httpAddress: { host: string; port: number };
  /** Where TeamTalk msg_servers register (login_server's msg_server port); null when ROUTE_LOGIN_PORT is off. */
  loginAddress: { host: string; port: number } | null;
  /** The registered TeamTalk msg_servers; null when off. */
  loginPort: LoginPort | null;
  presence: PresenceTable;
  server: RouteServer;
  /** Graceful: stop accepting, end links (destroyed after the grace period), close HTTP. Idempotent. */
  close(): Promise<void>;
  /** Immediate: drop every link and stop listening. */
  destroy(): void;
}

/** Starts the link listener, the msg_server registration port and the HTTP endpoint; nothing else to open. */
export async function startRouteServer(config: Readonly<RouteServerConfig>, log: Logger = pino({ level: 'silent' })): Promise<RunningRouteServer> {
  const server = new RouteServer(config, registry, log);
  const address = await server.listen();
  let login: LoginPort | null = null;
  let loginAddress: { host: string; port: number } | null = null;
  let http: BalancerHttp;
  try {
    if (config.login) {
      login = new LoginPort(
        {
          ...config.login,
          maxLinks: config.maxLinks,
          heartbeatIntervalMs: config.heartbeatIntervalMs,
          linkTimeoutMs: config.linkTimeoutMs,
        },
        log.child({ port: 'msg_server' }),
      );
      loginAddress = await login.listen();
    }
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
        // Our access servers and TeamTalk msg_servers, by one rule (an exact tie goes to an access server).
        pick: () => (login ? pickAcross([server.presence.pickLeastLoaded(), login.pickLeastLoaded()]) : server.presence.pickLeastLoaded()),
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
            { name: 'route_classic_links', help: 'Open links of TeamTalk msg_servers (TeamTalk\'s route protocol).', type: 'gauge', value: s.classicLinks },
            ...loginMetrics(login),
            ...processMetrics('route'),
          ];
        },
      },
      log,
    );
  } catch (err) {
    server.destroy();
    login?.destroy();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    address,
    httpAddress: http.address,
    loginAddress,
    loginPort: login,
    presence: server.presence,
    server,
    close() {
      closing ??= Promise.all([server.close(), http.close(), login?.close(config.shutdownGraceMs)]).then(() => undefined);
      return closing;
    },
    destroy() {
      server.destroy();
      login?.destroy();
      void http.close();
    },
  };
}

function loginMetrics(login: LoginPort | null): Metric[] {
  if (!login) return [];
  const s = login.stats;
  return [
    { name: 'route_login_links', help: 'Open TeamTalk msg_server links on the login port.', type: 'gauge', value: s.links },
    { name: 'route_login_servers', help: 'Registered TeamTalk msg_servers (classic, on the login port).', type: 'gauge', value: s.servers },
    { name: 'route_login_links_refused_total', help: 'msg_server links closed at accept (address not trusted, ROUTE_MAX_LINKS, shutdown).', type: 'counter', value: s.linksRefused },
    { name: 'route_login_pdus_in_total', help: 'PDUs read from msg_servers (heartbeats included).', type: 'counter', value: s.pdusIn },
    { name: 'route_login_bad_bodies_total', help: 'msg_server PDUs whose body did not decode or made no sense.', type: 'counter', value: s.badBodies },
    { name: 'route_login_unknown_commands_total', help: 'msg_server PDUs with a command the login port does not serve.', type: 'counter', value: s.unknownCommands },
    { name: 'route_login_framing_errors_total', help: 'msg_server links closed because their bytes were not PDUs.', type: 'counter', value: s.framingErrors },
  ];
}
