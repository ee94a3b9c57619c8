/**
 * Apple Push Notification service, HTTP/2 provider API with token auth:
 * POST /3/device/<token> on one shared session, `authorization: bearer
 * <ES256 JWT {kid, iss, iat}>`. The provider token is reused and renewed
 * after `tokenRefreshMs` (Apple refuses tokens older than an hour and
 * refreshes more often than every 20 minutes).
 *
 * The payload is TeamTalk push_server's: alert = the preview line, badge =
 * the unread count, a sound unless the push is silent (then the badge
 * only, no alert), and the app's data as the string `custom` (TeamTalk's
 * iOS app reads userInfo["custom"] as JSON text).
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { H2Client } from './h2-client.ts';
import { epochSeconds, signJwt } from './jwt.ts';
import { retryAfterMs } from './retry.ts';
import { MAX_PAYLOAD_BYTES, reasonOf, type HttpAnswer, type Provider, type PushJob, type Verdict } from './types.ts';

export interface ApnsSettings {
  /** https://api.push.apple.com or https://api.sandbox.push.apple.com. */
  url: string;
  keyId: string;
  teamId: string;
  /** apns-topic: the app's bundle id. */
  topic: string;
  /** The .p8 signing key. */
  key: KeyObject;
  /** apns-expiration: APNs keeps an undeliverable push this long (TeamTalk: 3600 s). */
  expirationS: number;
  /** aps.sound of a normal push (TeamTalk: "bingbong.aiff"; a missing file plays the default sound). */
  sound: string;
  /** A provider token is renewed after this (Apple: between 20 and 60 minutes). */
  tokenRefreshMs: number;
}

/** Apple refuses provider tokens renewed more often than this (TooManyProviderTokenUpdates). */
export const MIN_TOKEN_AGE_MS = 20 * 60_000;
const TOKEN_RE = /^[0-9a-fA-F]{64,200}$/;
const DEAD_REASONS = new Set(['BadDeviceToken', 'Unregistered', 'DeviceTokenNotForTopic', 'ExpiredToken']);

/** The JSON APNs gets for `job`. */
export function apnsPayload(job: PushJob, sound: string): Record<string, unknown> {
  const aps: Record<string, unknown> = job.silent
    ? { badge: job.badge }
    : { ...(job.flash === '' ? {} : { alert: job.flash }), badge: job.badge, sound };
  return { aps, custom: job.data };
}

export class ApnsProvider implements Provider {
  readonly name = 'apns' as const;
  private jwt: { token: string; issuedAt: number } | null = null;
  private readonly warned = new Set<string>();

  constructor(
    private readonly s: ApnsSettings,
    private readonly http: H2Client,
    private readonly log: Logger,
  ) {}

  async send(job: PushJob): Promise<Verdict> {
    if (!TOKEN_RE.test(job.token)) return { kind: 'dead', reason: 'not an APNs device token (hex)' };
    const body = Buffer.from(JSON.stringify(apnsPayload(job, this.s.sound)), 'utf8');
    if (body.length > MAX_PAYLOAD_BYTES) return { kind: 'failed', reason: `payload of ${body.length} bytes` };
    const bearer = this.providerToken();
    let answer: HttpAnswer;
    try {
      answer = await this.http.request(
        {
          ':method': 'POST',
          ':path': `/3/device/${job.token}`,
          authorization: `bearer ${bearer}`,
          'apns-topic': this.s.topic,
          'apns-push-type': 'alert',
          'apns-priority': job.silent ? '5' : '10',
          // 0: deliver now or never (Apple stores nothing).
          'apns-expiration': this.s.expirationS === 0 ? '0' : String(epochSeconds() + this.s.expirationS),
          'content-type': 'application/json',
        },
        body,
      );
    } catch (err) {
      return { kind: 'retry', reason: reasonOf(err) };
    }
    return this.verdict(answer, bearer);
  }

  close(): void {
    this.http.close();
  }

  private verdict(a: HttpAnswer, bearer: string): Verdict {
    if (a.status === 200) return { kind: 'sent' };
    const reason = reasonIn(a.body) ?? `HTTP ${a.status}`;
    if (a.status === 410 || (a.status === 400 && DEAD_REASONS.has(reason))) return { kind: 'dead', reason };
    if (a.status === 403 && reason === 'ExpiredProviderToken') {
      if (this.jwt?.token === bearer && Date.now() - this.jwt.issuedAt >= MIN_TOKEN_AGE_MS) {
        this.jwt = null;
        return { kind: 'retry', reason, retryAfterMs: 0 };
      }
      if (this.jwt?.token !== bearer) return { kind: 'retry', reason, retryAfterMs: 0 };
    }
    if (a.status === 429 || a.status >= 500) return { kind: 'retry', reason, retryAfterMs: retryAfterMs(a.headers['retry-after']) };
    if (a.status === 403 || reason === 'BadTopic' || reason === 'TopicDisallowed' || reason === 'MissingTopic') this.warnOnce(reason, a.status);
    return { kind: 'failed', reason };
  }

  /** The current provider token, signed anew once it is `tokenRefreshMs` old. */
  private providerToken(now = Date.now()): string {
    if (this.jwt && now - this.jwt.issuedAt < this.s.tokenRefreshMs) return this.jwt.token;
    const token = signJwt('ES256', this.s.key, { kid: this.s.keyId }, { iss: this.s.teamId, iat: epochSeconds(now) });
    this.jwt = { token, issuedAt: now };
    return token;
  }

  private warnOnce(reason: string, status: number): void {
    if (this.warned.has(reason)) return;
    this.warned.add(reason);
    this.log.error({ status, reason }, 'APNs refuses our credentials or topic: check APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, APNS_KEY_FILE');
  }
}

/** `{"reason":"..."}` of an APNs (or any JSON) error answer. */
function reasonIn(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { reason?: unknown };
    return typeof parsed.reason === 'string' ? parsed.reason : undefined;
  } catch {
    return undefined;
  }
}
