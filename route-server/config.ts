import type net from 'node:net';
import { isLoopbackHost, linkAuthFromEnv, type LinkAuthPolicy } from '../common/cluster-auth.ts';
import { intFromEnv, rawFromEnv, stringFromEnv, urlFromEnv, type Env } from '../common/config.ts';
import { ErrorCode, ImError } from '../common/errors.ts';

/** TeamTalk's login_server port for msg_server registrations (loginserver.conf MsgServerPort). */
export const TEAMTALK_LOGIN_MSG_SERVER_PORT = 8100;

/** Where TeamTalk's C++ msg_servers register as they would with TeamTalk's login_server. */
export interface LoginPortConfig {
  host: string;
  /** 0: any free port. */
  port: number;
  /** Loopback peers are admitted (always, from the environment; tests turn it off). */
  trustLoopback: boolean;
  /** Other admitted addresses: ROUTE_TRUSTED_PEERS (the same list as `auth.trusted`). */
  trusted: net.BlockList | null;
}

export interface RouteServerConfig {
  /** Where access-server links connect. */
  host: string;
  port: number;
  /** Where clients ask GET /msg_server (and operators /healthz, /metrics). */
  httpHost: string;
  httpPort: number;
  /** Largest PDU accepted from an access server, header included. */
  maxFrameLength: number;
  /** Bytes waiting in one link's socket before the peer is declared stuck and dropped. */
  maxOutboundBytes: number;
  /** Open access-server links accepted at once. */
  maxLinks: number;
  /** Who may open a link (CLUSTER_SECRET, ROUTE_TRUSTED_PEERS). */
  auth: LinkAuthPolicy;
  /** Idle period after which a heartbeat is sent (TeamTalk: 5 s). */
  heartbeatIntervalMs: number;
  /** Silence after which a link is dropped (TeamTalk: 30 s). */
  linkTimeoutMs: number;
  /** How long close() lets links end before destroying them. */
  shutdownGraceMs: number;
  /** After start, how long deliveries with no recipient yet are held while access servers re-register. */
  warmupHoldMs: number;
  /** Open HTTP connections at once. */
  httpMaxConnections: number;
  /** Bound on reading one HTTP request (headers and body). */
  httpRequestTimeoutMs: number;
  /** `msfsPrior` / `msfsBackup` of /msg_server: the file (image) server URL clients use. */
  msfsUrl: string;
  /** `discovery` of /msg_server. */
  discoveryUrl: string;
  /** The login_server-compatible registration port for TeamTalk msg_servers; null: off. */
  login: LoginPortConfig | null;
  logLevel: string;
}

/** Reads and validates route-server's settings; a bad value throws IM_ERR_BAD_CONFIG naming the variable. */
export function loadConfig(env: Env): Readonly<RouteServerConfig> {
  const host = stringFromEnv(env, 'ROUTE_SERVER_HOST', '127.0.0.1');
  const port = intFromEnv(env, 'ROUTE_SERVER_PORT', 10700, { min: 0, max: 65535 });
  const httpPort = intFromEnv(env, 'ROUTE_HTTP_PORT', 10800, { min: 0, max: 65535 });
  const auth = linkAuthFromEnv(env, host, 'ROUTE_SERVER_HOST', 'ROUTE_TRUSTED_PEERS');
  const config: RouteServerConfig = {
    host,
    port,
    httpHost: stringFromEnv(env, 'ROUTE_HTTP_HOST', host),
    httpPort,
    maxFrameLength: intFromEnv(env, 'ROUTE_MAX_FRAME_BYTES', 4 * 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    maxOutboundBytes: intFromEnv(env, 'ROUTE_MAX_OUTBOUND_BYTES', 64 * 1024 * 1024, { min: 65536 }),
    maxLinks: intFromEnv(env, 'ROUTE_MAX_LINKS', 1024, { min: 1, max: 65536 }),
    auth,
    heartbeatIntervalMs: intFromEnv(env, 'ROUTE_HEARTBEAT_MS', 5000, { min: 20 }),
    linkTimeoutMs: intFromEnv(env, 'ROUTE_LINK_TIMEOUT_MS', 30_000, { min: 50 }),
    shutdownGraceMs: intFromEnv(env, 'ROUTE_SHUTDOWN_GRACE_MS', 1000, { min: 0, max: 60_000 }),
    warmupHoldMs: intFromEnv(env, 'ROUTE_WARMUP_HOLD_MS', 3000, { min: 0, max: 60_000 }),
    httpMaxConnections: intFromEnv(env, 'ROUTE_HTTP_MAX_CONNECTIONS', 4096, { min: 1, max: 1_000_000 }),
    httpRequestTimeoutMs: intFromEnv(env, 'ROUTE_HTTP_TIMEOUT_MS', 5000, { min: 100, max: 600_000 }),
    msfsUrl: msfsUrlFromEnv(env),
    discoveryUrl: stringFromEnv(env, 'ROUTE_DISCOVERY_URL', ''),
    login: loginPortFromEnv(env, host, auth.trusted),
    logLevel: stringFromEnv(env, 'LOG_LEVEL', 'info'),
  };
  return Object.freeze(config);
}

/**
 * ROUTE_LOGIN_PORT (TeamTalk's 8100; 0: any free port; `off` or -1: no
 * port) and ROUTE_LOGIN_HOST (ROUTE_SERVER_HOST; loopback while no
 * ROUTE_TRUSTED_PEERS are set). TeamTalk's msg_servers cannot
 * authenticate: beyond loopback the port needs ROUTE_TRUSTED_PEERS.
 */
function loginPortFromEnv(env: Env, host: string, trusted: net.BlockList | null): LoginPortConfig | null {
  const raw = rawFromEnv(env, 'ROUTE_LOGIN_PORT')?.toLowerCase();
  if (raw === 'off' || raw === '-1') return null;
  const port = intFromEnv(env, 'ROUTE_LOGIN_PORT', TEAMTALK_LOGIN_MSG_SERVER_PORT, { min: 0, max: 65535 });
  // Without trusted peers only loopback msg_servers could register: listen there unless told otherwise.
  const loginHost = stringFromEnv(env, 'ROUTE_LOGIN_HOST', trusted === null && !isLoopbackHost(host) ? '127.0.0.1' : host);
  if (!isLoopbackHost(loginHost) && trusted === null) {
    throw new ImError(
      ErrorCode.BAD_CONFIG,
      `ROUTE_LOGIN_HOST is ${loginHost}, beyond loopback: set ROUTE_TRUSTED_PEERS to the TeamTalk msg_servers' addresses (their registration link has no authentication), or ROUTE_LOGIN_HOST=127.0.0.1, or ROUTE_LOGIN_PORT=off`,
    );
  }
  return { host: loginHost, port, trustLoopback: true, trusted };
}

/**
 * ROUTE_MSFS_URL: msfs's MSFS_PUBLIC_URL, ending in '/' (added when
 * missing): the Windows client appends `upload/` and stored paths to it.
 */
function msfsUrlFromEnv(env: Env): string {
  const url = urlFromEnv(env, 'ROUTE_MSFS_URL', ['http', 'https']);
  if (url === undefined) return '';
  return url.endsWith('/') ? url : `${url}/`;
}
