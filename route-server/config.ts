import { linkAuthFromEnv, type LinkAuthPolicy } from '../common/cluster-auth.ts';
import { intFromEnv, stringFromEnv, type Env } from '../common/config.ts';

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
  logLevel: string;
}

/** Reads and validates route-server's settings; a bad value throws IM_ERR_BAD_CONFIG naming the variable. */
export function loadConfig(env: Env): Readonly<RouteServerConfig> {
  const host = stringFromEnv(env, 'ROUTE_SERVER_HOST', '127.0.0.1');
  const config: RouteServerConfig = {
    host,
    port: intFromEnv(env, 'ROUTE_SERVER_PORT', 10700, { min: 0, max: 65535 }),
    httpHost: stringFromEnv(env, 'ROUTE_HTTP_HOST', host),
    httpPort: intFromEnv(env, 'ROUTE_HTTP_PORT', 10800, { min: 0, max: 65535 }),
    maxFrameLength: intFromEnv(env, 'ROUTE_MAX_FRAME_BYTES', 4 * 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    maxOutboundBytes: intFromEnv(env, 'ROUTE_MAX_OUTBOUND_BYTES', 64 * 1024 * 1024, { min: 65536 }),
    maxLinks: intFromEnv(env, 'ROUTE_MAX_LINKS', 1024, { min: 1, max: 65536 }),
    auth: linkAuthFromEnv(env, host, 'ROUTE_SERVER_HOST', 'ROUTE_TRUSTED_PEERS'),
    heartbeatIntervalMs: intFromEnv(env, 'ROUTE_HEARTBEAT_MS', 5000, { min: 20 }),
    linkTimeoutMs: intFromEnv(env, 'ROUTE_LINK_TIMEOUT_MS', 30_000, { min: 50 }),
    shutdownGraceMs: intFromEnv(env, 'ROUTE_SHUTDOWN_GRACE_MS', 1000, { min: 0, max: 60_000 }),
    warmupHoldMs: intFromEnv(env, 'ROUTE_WARMUP_HOLD_MS', 3000, { min: 0, max: 60_000 }),
    httpMaxConnections: intFromEnv(env, 'ROUTE_HTTP_MAX_CONNECTIONS', 4096, { min: 1, max: 1_000_000 }),
    httpRequestTimeoutMs: intFromEnv(env, 'ROUTE_HTTP_TIMEOUT_MS', 5000, { min: 100, max: 600_000 }),
    msfsUrl: stringFromEnv(env, 'ROUTE_MSFS_URL', ''),
    discoveryUrl: stringFromEnv(env, 'ROUTE_DISCOVERY_URL', ''),
    logLevel: stringFromEnv(env, 'LOG_LEVEL', 'info'),
  };
  return Object.freeze(config);
}
