import type net from 'node:net';
import { addressList, isLoopbackHost } from '../common/cluster-auth.ts';
import { intFromEnv, rawFromEnv, stringFromEnv, type Env } from '../common/config.ts';
import { ErrorCode, ImError } from '../common/errors.ts';
import { DEFAULT_MAX_FRAME_LENGTH } from '../proto/frame-decoder.ts';
import type { ApnsSettings } from './apns.ts';
import type { EngineOptions } from './engine.ts';
import { apnsFromEnv, caFromEnv, fcmFromEnv, type FcmConfig } from './provider-config.ts';

export interface PushServerConfig {
  /** Where access servers (and TeamTalk msg_servers) connect (TeamTalk's pushserver.conf: 127.0.0.1:8500). */
  host: string;
  port: number;
  /**
   * Who may connect. TeamTalk's link has no handshake, so admission is by
   * address: loopback (when `trustLoopback`) and PUSH_TRUSTED_PEERS.
   */
  trustLoopback: boolean;
  trustedPeers: net.BlockList | null;
  /** GET /metrics and /healthz. */
  opsHost: string;
  opsPort: number;
  /** Largest PDU accepted, header included. */
  maxFrameLength: number;
  /** Open links at once. */
  maxLinks: number;
  /** Silence (no heartbeat, no request) after which a link is dropped (TeamTalk: 30 s). */
  linkTimeoutMs: number;
  /** Requests of one link not yet answered: reading that link pauses at the cap. */
  maxPendingPerLink: number;
  /** Bytes of answers a link may leave unread before it is dropped. */
  maxOutboundBytes: number;
  /** Queue bounds, concurrency per provider, retry policy. */
  engine: EngineOptions;
  /** Provider HTTP clients: trusted CAs (undefined: Node's roots) and the bound on one request. */
  http: { ca: readonly string[] | undefined; timeoutMs: number };
  /** null: not configured, iOS tokens are answered failed. */
  apns: ApnsSettings | null;
  /** null: not configured, Android tokens are answered failed. */
  fcm: FcmConfig | null;
  /** How long close() lets accepted pushes finish before failing the rest. */
  shutdownGraceMs: number;
  logLevel: string;
}

/** Reads and validates push-server's settings (key files included); a bad value throws IM_ERR_BAD_CONFIG naming the variable. */
export function loadConfig(env: Env): Readonly<PushServerConfig> {
  const host = stringFromEnv(env, 'PUSH_HOST', '127.0.0.1');
  const trustedPeers = addressList('PUSH_TRUSTED_PEERS', rawFromEnv(env, 'PUSH_TRUSTED_PEERS') ?? '');
  if (!isLoopbackHost(host) && trustedPeers === null) {
    throw new ImError(
      ErrorCode.BAD_CONFIG,
      `PUSH_HOST is ${host}, beyond loopback: set PUSH_TRUSTED_PEERS to the access servers' addresses (TeamTalk's push link has no authentication)`,
    );
  }
  const maxFrameLength = intFromEnv(env, 'PUSH_MAX_FRAME_BYTES', DEFAULT_MAX_FRAME_LENGTH, { min: 1024, max: 64 * 1024 * 1024 });
  const maxQueueBytes = intFromEnv(env, 'PUSH_QUEUE_MAX_BYTES', 16 * 1024 * 1024, { min: 1024 });
  if (maxQueueBytes < maxFrameLength) {
    throw new ImError(ErrorCode.BAD_CONFIG, `PUSH_QUEUE_MAX_BYTES (${maxQueueBytes}) must be at least PUSH_MAX_FRAME_BYTES (${maxFrameLength})`);
  }
  const config: PushServerConfig = {
    host,
    port: intFromEnv(env, 'PUSH_PORT', 8500, { min: 0, max: 65535 }),
    trustLoopback: true,
    trustedPeers,
    opsHost: stringFromEnv(env, 'PUSH_OPS_HOST', host),
    opsPort: intFromEnv(env, 'PUSH_OPS_PORT', 8501, { min: 0, max: 65535 }),
    maxFrameLength,
    maxLinks: intFromEnv(env, 'PUSH_MAX_LINKS', 256, { min: 1, max: 65536 }),
    linkTimeoutMs: intFromEnv(env, 'PUSH_LINK_TIMEOUT_MS', 30_000, { min: 100 }),
    maxPendingPerLink: intFromEnv(env, 'PUSH_LINK_MAX_PENDING', 256, { min: 1, max: 100_000 }),
    maxOutboundBytes: intFromEnv(env, 'PUSH_MAX_OUTBOUND_BYTES', 16 * 1024 * 1024, { min: 65536 }),
    engine: {
      maxQueueItems: intFromEnv(env, 'PUSH_QUEUE_MAX_ITEMS', 10_000, { min: 1, max: 10_000_000 }),
      maxQueueBytes,
      concurrency: intFromEnv(env, 'PUSH_CONCURRENCY', 64, { min: 1, max: 1000 }),
      retry: {
        maxAttempts: intFromEnv(env, 'PUSH_MAX_ATTEMPTS', 5, { min: 1, max: 20 }),
        baseDelayMs: intFromEnv(env, 'PUSH_RETRY_BASE_MS', 500, { min: 1, max: 60_000 }),
        maxDelayMs: intFromEnv(env, 'PUSH_RETRY_MAX_MS', 30_000, { min: 1, max: 600_000 }),
        budgetMs: intFromEnv(env, 'PUSH_RETRY_BUDGET_MS', 60_000, { min: 0, max: 3_600_000 }),
      },
    },
    http: { ca: caFromEnv(env), timeoutMs: intFromEnv(env, 'PUSH_HTTP_TIMEOUT_MS', 10_000, { min: 100, max: 600_000 }) },
    apns: apnsFromEnv(env),
    fcm: fcmFromEnv(env),
    shutdownGraceMs: intFromEnv(env, 'PUSH_SHUTDOWN_GRACE_MS', 5000, { min: 0, max: 600_000 }),
    logLevel: stringFromEnv(env, 'LOG_LEVEL', 'info'),
  };
  return Object.freeze(config);
}
