/**
 * msfs's settings, read once from the environment by main.ts. Every bound
 * has a default; a bad value fails at start-up naming its variable.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intFromEnv, rawFromEnv, stringFromEnv, urlFromEnv, type Env } from '../common/config.ts';
import { ErrorCode, ImError } from '../common/errors.ts';
import { kindByExtension, type FileKind } from './file-types.ts';

/** `.stack/msfs` under the repository, wherever the process was started from. */
export const DEFAULT_ROOT = fileURLToPath(new URL('../.stack/msfs', import.meta.url));

/** Room for multipart headers, boundaries and small form fields around the file itself. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

export interface MsfsConfig {
  host: string;
  /** TeamTalk's msfs.conf.example: ListenPort=8700. */
  port: number;
  /** Files live under root/<000-255>/<000-255>/, as under TeamTalk's BaseDir. */
  root: string;
  /**
   * Prefix of the `url` in upload answers, ending in '/'; route-server's
   * ROUTE_MSFS_URL must say the same (the Windows client builds its URLs
   * from that and `path`). Undefined: http://host:port/, or, when listening
   * on every interface, http://<the request's Host header>/ as TeamTalk does.
   */
  publicUrl: string | undefined;
  /** Largest file accepted (TeamTalk's FileManager: 5 MiB). */
  maxFileBytes: number;
  /** Largest request body accepted: the file plus MULTIPART_OVERHEAD_BYTES. */
  maxRequestBytes: number;
  /** Kinds a client may upload (MSFS_TYPES), by canonical extension. */
  types: ReadonlyMap<string, FileKind>;
  /** Uploads at once from one source (IPv4 address or IPv6 /64). */
  maxUploadsPerIp: number;
  /** Open connections at once from one source; more are cut as they arrive. */
  maxConnectionsPerIp: number;
  /** Sum of the bodies of all uploads in progress (declared length, else maxRequestBytes each). */
  maxInflightBytes: number;
  /** Open connections at once in all. */
  maxConnections: number;
  /** Bound on receiving a request's headers (slow-header clients). */
  headersTimeoutMs: number;
  /** Bound on receiving a whole request, body included. */
  requestTimeoutMs: number;
  /** A connection silent this long is dropped (TeamTalk: 30 s). */
  idleTimeoutMs: number;
  /** How long close() lets uploads in progress finish. */
  shutdownGraceMs: number;
  logLevel: string;
}

const DEFAULT_TYPES = 'jpg,png,gif,webp,bmp';

function badConfig(name: string, problem: string): ImError {
  return new ImError(ErrorCode.BAD_CONFIG, `${name} ${problem}`);
}

function typesFromEnv(env: Env): Map<string, FileKind> {
  const raw = stringFromEnv(env, 'MSFS_TYPES', DEFAULT_TYPES);
  const types = new Map<string, FileKind>();
  for (const word of raw.split(',').map((w) => w.trim().toLowerCase().replace(/^\./, ''))) {
    if (word === '') continue;
    const kind = kindByExtension(word);
    if (!kind) throw badConfig('MSFS_TYPES', `names an unknown type "${word}"`);
    types.set(kind.ext, kind);
  }
  if (types.size === 0) throw badConfig('MSFS_TYPES', 'names no type');
  return types;
}

function publicUrlFromEnv(env: Env): string | undefined {
  const url = urlFromEnv(env, 'MSFS_PUBLIC_URL', ['http', 'https']);
  if (url === undefined) return undefined;
  if (/[?#]/.test(url)) throw badConfig('MSFS_PUBLIC_URL', 'must not have a query or fragment');
  return url.endsWith('/') ? url : `${url}/`;
}

/** Reads and validates msfs's settings; a bad value throws IM_ERR_BAD_CONFIG naming the variable. */
export function loadConfig(env: Env, cwd = process.cwd()): Readonly<MsfsConfig> {
  const rawRoot = rawFromEnv(env, 'MSFS_ROOT');
  const maxFileBytes = intFromEnv(env, 'MSFS_MAX_BYTES', 5 * 1024 * 1024, { min: 1024, max: 1024 * 1024 * 1024 });
  const requestTimeoutMs = intFromEnv(env, 'MSFS_REQUEST_TIMEOUT_MS', 120_000, { min: 100, max: 3_600_000 });
  const config: MsfsConfig = {
    host: stringFromEnv(env, 'MSFS_HOST', '127.0.0.1'),
    port: intFromEnv(env, 'MSFS_PORT', 8700, { min: 0, max: 65535 }),
    root: rawRoot === undefined ? DEFAULT_ROOT : isAbsolute(rawRoot) ? rawRoot : resolve(cwd, rawRoot),
    publicUrl: publicUrlFromEnv(env),
    maxFileBytes,
    maxRequestBytes: maxFileBytes + MULTIPART_OVERHEAD_BYTES,
    types: typesFromEnv(env),
    maxUploadsPerIp: intFromEnv(env, 'MSFS_MAX_UPLOADS_PER_IP', 8, { min: 1, max: 10_000 }),
    maxConnectionsPerIp: intFromEnv(env, 'MSFS_MAX_CONNECTIONS_PER_IP', 64, { min: 1, max: 1_000_000 }),
    maxInflightBytes: intFromEnv(env, 'MSFS_MAX_INFLIGHT_BYTES', 128 * 1024 * 1024, { min: 1024 }),
    maxConnections: intFromEnv(env, 'MSFS_MAX_CONNECTIONS', 4096, { min: 1, max: 1_000_000 }),
    headersTimeoutMs: intFromEnv(env, 'MSFS_HEADERS_TIMEOUT_MS', Math.min(10_000, requestTimeoutMs), { min: 100, max: requestTimeoutMs }),
    requestTimeoutMs,
    idleTimeoutMs: intFromEnv(env, 'MSFS_IDLE_TIMEOUT_MS', 30_000, { min: 100, max: 3_600_000 }),
    shutdownGraceMs: intFromEnv(env, 'MSFS_SHUTDOWN_GRACE_MS', 5000, { min: 0, max: 600_000 }),
    logLevel: stringFromEnv(env, 'LOG_LEVEL', 'info'),
  };
  if (config.maxConnectionsPerIp < config.maxUploadsPerIp) {
    throw badConfig('MSFS_MAX_CONNECTIONS_PER_IP', 'must be at least MSFS_MAX_UPLOADS_PER_IP');
  }
  if (config.maxInflightBytes < config.maxRequestBytes) {
    throw badConfig('MSFS_MAX_INFLIGHT_BYTES', `must be at least MSFS_MAX_BYTES + ${MULTIPART_OVERHEAD_BYTES}`);
  }
  return Object.freeze(config);
}
