import { intFromEnv, rawFromEnv, stringFromEnv, urlFromEnv, type Env } from '../common/config.ts';
import { ErrorCode, ImError } from '../common/errors.ts';
import { clusterSecretFromEnv, PROCESS_INSTANCE, type PeerIdentity } from '../common/cluster-auth.ts';
import { DEFAULT_MAX_FRAME_LENGTH } from '../proto/frame-decoder.ts';
import { textKeyFromEnv } from '../proto/text-crypto.ts';
import type { LoginThrottleOptions } from './login-throttle.ts';
import { addressList } from './source-address.ts';

export interface PeerAddress {
  host: string;
  port: number;
}

/** Limits and timings of one client connection. */
export interface ConnLimits {
  maxFrameBytes: number;
  /** Largest PDU accepted before login (a login request is a few hundred bytes). */
  preLoginMaxFrameBytes: number;
  /** Requests read but not yet answered; reading pauses at the cap... */
  maxInFlight: number;
  /** ...or at this many bytes of them. */
  maxInFlightBytes: number;
  /** Bytes queued for a client before it is declared stuck and dropped. */
  maxOutboundBytes: number;
  /** How long a client may leave written data unread (write() said false). */
  drainTimeoutMs: number;
  loginTimeoutMs: number;
  pcTimeoutMs: number;
  mobileTimeoutMs: number;
  /** CID_MSG_DATA per second per connection (token bucket refill) and bucket size. */
  msgRatePerSec: number;
  msgBurst: number;
  /** Bytes of CID_MSG_DATA and P2P bodies per second per connection, and bucket size. */
  msgBytesPerSec: number;
  msgBytesBurst: number;
}

/** Timings of server-to-server links (db-proxy, route-server). */
export interface PeerLinkTimings {
  heartbeatMs: number;
  timeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  maxOutboundBytes: number;
  maxFrameBytes: number;
  /** CLUSTER_SECRET: links authenticate with it (common/cluster-auth.ts); null: they do not. */
  secret: Buffer | null;
  /** Who this server says it is on its links. */
  identity: PeerIdentity;
}

export type RouteProtocol = 'ours' | 'teamtalk';

function routeProtocolFromEnv(env: Env): RouteProtocol {
  const v = stringFromEnv(env, 'ACCESS_ROUTE_PROTOCOL', 'ours');
  if (v !== 'ours' && v !== 'teamtalk') throw new ImError(ErrorCode.BAD_CONFIG, `ACCESS_ROUTE_PROTOCOL must be "ours" or "teamtalk", got "${v}"`);
  return v;
}

export interface AccessConfig {
  host: string;
  port: number;
  /** ip1 / ip2 reported to route-servers (what clients are told to connect to). */
  advertiseIp: string;
  advertiseIp2: string;
  serverId: string;
  maxConnections: number;
  conn: ConnLimits;
  dbProxies: readonly PeerAddress[];
  dbLinksPerProxy: number;
  dbRequestTimeoutMs: number;
  dbMaxPendingPerLink: number;
  /** At start, how long the client port waits for a db-proxy link before it opens anyway. */
  dbStartWaitMs: number;
  routeServers: readonly PeerAddress[];
  /**
   * What ROUTE_SERVERS are (ACCESS_ROUTE_PROTOCOL): "ours" (our route-server:
   * authenticated links, registration, CID_EXT_* deliveries and acks) or
   * "teamtalk" (TeamTalk's C++ route_server: TeamTalk's route protocol only).
   */
  routeProtocol: RouteProtocol;
  /** TeamTalk login_server(s) (LOGIN_SERVERS, their msg_server port): registered with as a TeamTalk msg_server registers. */
  loginServers: readonly PeerAddress[];
  /** TeamTalk push_server(s) (PUSH_SERVERS); empty: no mobile push. */
  pushServers: readonly PeerAddress[];
  /** The clients' text key (IM_AES_KEY): opens message text for push previews. */
  textKey: Buffer;
  links: PeerLinkTimings;
  /** Where login owners live: REDIS_URL_LOGIN, else REDIS_URL. Unset: duplicate logins are detected on this server only. */
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  /** Lifetime of a login owner key that its server stops refreshing (crashed). */
  loginOwnerTtlMs: number;
  /** How often a server refreshes the owner keys of its live sessions. */
  loginOwnerRefreshMs: number;
  /** How often the marker of this server's claims is checked; 0: never. */
  loginOwnerCheckMs: number;
  groupMembersTtlMs: number;
  /** Login attempts per client source (IPv4 address, IPv6 /64). */
  loginThrottle: LoginThrottleOptions;
  shutdownTimeoutMs: number;
  /** -1: no /healthz and /metrics. */
  httpPort: number;
  logLevel: string;
}

/** "host:port,host:port" → addresses; a bad entry throws IM_ERR_BAD_CONFIG naming `name`. */
export function addressesFromEnv(env: Env, name: string, fallback: string): PeerAddress[] {
  const raw = rawFromEnv(env, name) ?? fallback;
  if (raw === '') return [];
  return raw.split(',').map((part) => {
    const entry = part.trim();
    const m = /^(.+):(\d{1,5})$/.exec(entry);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw new ImError(ErrorCode.BAD_CONFIG, `${name} must be a comma-separated list of host:port, got "${entry}"`);
    }
    return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  });
}

/** Reads and validates the access-server's settings; the result is frozen. */
export function loadConfig(env: Env): AccessConfig {
  const host = stringFromEnv(env, 'ACCESS_HOST', '127.0.0.1');
  const port = intFromEnv(env, 'ACCESS_PORT', 8000, { min: 0, max: 65535 });
  const advertiseIp = stringFromEnv(env, 'ACCESS_ADVERTISE_IP', host);
  const rate = intFromEnv(env, 'ACCESS_MSG_RATE_PER_SEC', 200, { min: 1, max: 1_000_000 });
  const msgBytesPerSec = intFromEnv(env, 'ACCESS_MSG_BYTES_PER_SEC', 1024 * 1024, { min: 1024 });
  const dbProxies = addressesFromEnv(env, 'DB_PROXY_ADDRS', '127.0.0.1:10600');
  if (dbProxies.length === 0) throw new ImError(ErrorCode.BAD_CONFIG, 'DB_PROXY_ADDRS names no db-proxy');
  const serverId = stringFromEnv(env, 'ACCESS_SERVER_ID', `${advertiseIp}:${port}`);
  const config: AccessConfig = {
    host,
    port,
    advertiseIp,
    advertiseIp2: stringFromEnv(env, 'ACCESS_ADVERTISE_IP2', advertiseIp),
    serverId,
    maxConnections: intFromEnv(env, 'ACCESS_MAX_CONNECTIONS', 10_000, { min: 1, max: 10_000_000 }),
    conn: {
      maxFrameBytes: intFromEnv(env, 'ACCESS_MAX_FRAME_BYTES', DEFAULT_MAX_FRAME_LENGTH, { min: 1024, max: 64 * 1024 * 1024 }),
      preLoginMaxFrameBytes: intFromEnv(env, 'ACCESS_PRELOGIN_MAX_FRAME_BYTES', 4096, { min: 256, max: 64 * 1024 * 1024 }),
      maxInFlight: intFromEnv(env, 'ACCESS_MAX_IN_FLIGHT', 64, { min: 1, max: 60_000 }),
      maxInFlightBytes: intFromEnv(env, 'ACCESS_MAX_IN_FLIGHT_BYTES', 4 * 1024 * 1024, { min: 1024 }),
      maxOutboundBytes: intFromEnv(env, 'ACCESS_MAX_OUTBOUND_BYTES', 8 * 1024 * 1024, { min: 65_536 }),
      drainTimeoutMs: intFromEnv(env, 'ACCESS_DRAIN_TIMEOUT_MS', 10_000, { min: 10 }),
      loginTimeoutMs: intFromEnv(env, 'ACCESS_LOGIN_TIMEOUT_MS', 15_000, { min: 100 }),
      pcTimeoutMs: intFromEnv(env, 'ACCESS_PC_TIMEOUT_MS', 120_000, { min: 100 }),
      mobileTimeoutMs: intFromEnv(env, 'ACCESS_MOBILE_TIMEOUT_MS', 300_000, { min: 100 }),
      msgRatePerSec: rate,
      msgBurst: intFromEnv(env, 'ACCESS_MSG_BURST', rate, { min: 1, max: 1_000_000 }),
      msgBytesPerSec,
      msgBytesBurst: intFromEnv(env, 'ACCESS_MSG_BYTES_BURST', Math.max(msgBytesPerSec, 4 * 1024 * 1024), { min: 1024 }),
    },
    dbProxies,
    dbLinksPerProxy: intFromEnv(env, 'ACCESS_DB_LINKS_PER_PROXY', 2, { min: 1, max: 64 }),
    dbRequestTimeoutMs: intFromEnv(env, 'ACCESS_DB_TIMEOUT_MS', 10_000, { min: 10 }),
    dbMaxPendingPerLink: intFromEnv(env, 'ACCESS_DB_MAX_PENDING', 8192, { min: 1, max: 60_000 }),
    dbStartWaitMs: intFromEnv(env, 'ACCESS_DB_START_WAIT_MS', 3000, { min: 0, max: 600_000 }),
    routeServers: addressesFromEnv(env, 'ROUTE_SERVERS', ''),
    routeProtocol: routeProtocolFromEnv(env),
    loginServers: addressesFromEnv(env, 'LOGIN_SERVERS', ''),
    pushServers: addressesFromEnv(env, 'PUSH_SERVERS', ''),
    textKey: textKeyFromEnv(env),
    links: {
      heartbeatMs: intFromEnv(env, 'ACCESS_LINK_HEARTBEAT_MS', 5000, { min: 50 }),
      timeoutMs: intFromEnv(env, 'ACCESS_LINK_TIMEOUT_MS', 30_000, { min: 200 }),
      reconnectMinMs: 100,
      reconnectMaxMs: intFromEnv(env, 'ACCESS_LINK_RECONNECT_MAX_MS', 1000, { min: 100, max: 60_000 }),
      maxOutboundBytes: intFromEnv(env, 'ACCESS_LINK_MAX_OUTBOUND_BYTES', 64 * 1024 * 1024, { min: 65_536 }),
      maxFrameBytes: 16 * 1024 * 1024,
      secret: clusterSecretFromEnv(env),
      identity: { role: 'access-server', name: serverId, instance: PROCESS_INSTANCE },
    },
    redisUrl: urlFromEnv(env, 'REDIS_URL_LOGIN', ['redis', 'rediss']) ?? urlFromEnv(env, 'REDIS_URL', ['redis', 'rediss']),
    redisKeyPrefix: stringFromEnv(env, 'REDIS_KEY_PREFIX', ''),
    loginOwnerTtlMs: intFromEnv(env, 'ACCESS_LOGIN_OWNER_TTL_MS', 60_000, { min: 100, max: 86_400_000 }),
    loginOwnerRefreshMs: intFromEnv(env, 'ACCESS_LOGIN_OWNER_REFRESH_MS', 20_000, { min: 20, max: 86_400_000 }),
    loginOwnerCheckMs: intFromEnv(env, 'ACCESS_LOGIN_OWNER_CHECK_MS', 500, { min: 0, max: 86_400_000 }),
    groupMembersTtlMs: intFromEnv(env, 'ACCESS_GROUP_CACHE_MS', 2000, { min: 0, max: 3_600_000 }),
    loginThrottle: Object.freeze({
      ratePerSec: intFromEnv(env, 'ACCESS_LOGIN_RATE_PER_SEC', 10, { min: 1, max: 1_000_000 }),
      burst: intFromEnv(env, 'ACCESS_LOGIN_BURST', 20, { min: 1, max: 1_000_000 }),
      maxSources: intFromEnv(env, 'ACCESS_LOGIN_THROTTLE_SOURCES', 100_000, { min: 1, max: 10_000_000 }),
      exempt: Object.freeze(addressList(rawFromEnv(env, 'ACCESS_LOGIN_THROTTLE_EXEMPT') ?? '', 'ACCESS_LOGIN_THROTTLE_EXEMPT')),
    }),
    shutdownTimeoutMs: intFromEnv(env, 'ACCESS_SHUTDOWN_TIMEOUT_MS', 10_000, { min: 0 }),
    httpPort: intFromEnv(env, 'ACCESS_HTTP_PORT', -1, { min: -1, max: 65535 }),
    logLevel: stringFromEnv(env, 'LOG_LEVEL', 'info'),
  };
  if (config.links.heartbeatMs >= config.links.timeoutMs) {
    throw new ImError(ErrorCode.BAD_CONFIG, 'ACCESS_LINK_HEARTBEAT_MS must be below ACCESS_LINK_TIMEOUT_MS');
  }
  if (config.loginOwnerRefreshMs * 2 > config.loginOwnerTtlMs) {
    throw new ImError(ErrorCode.BAD_CONFIG, 'ACCESS_LOGIN_OWNER_REFRESH_MS must be at most half of ACCESS_LOGIN_OWNER_TTL_MS');
  }
  Object.freeze(config.conn);
  Object.freeze(config.links);
  return Object.freeze(config);
}
