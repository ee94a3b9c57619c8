/**
 * Firebase Cloud Messaging, HTTP v1 API: POST
 * /v1/projects/<project>/messages:send on one shared HTTP/2 session, with a
 * service account's OAuth 2.0 access token (oauth.ts) as Bearer.
 *
 * A normal push is a notification (body = the preview line, sound, the
 * unread count as notification_count); a silent one is a data-only message
 * that shows nothing. Either carries the app's data as `custom` (as the
 * APNs payload does) and the count as `push_count`.
 */
import type { Logger } from 'pino';
import type { H2Client } from './h2-client.ts';
import { OAuthError, type AccessTokens } from './oauth.ts';
import { retryAfterMs } from './retry.ts';
import { MAX_PAYLOAD_BYTES, reasonOf, type HttpAnswer, type Provider, type PushJob, type Verdict } from './types.ts';

export interface FcmSettings {
  projectId: string;
  /** android.ttl: FCM keeps an undeliverable push this long. */
  ttlS: number;
}

const TOKEN_RE = /^[\w:.-]{1,4096}$/;

interface FcmError {
  status?: string;
  message?: string;
  details?: { '@type'?: string; errorCode?: string; fieldViolations?: { field?: string }[] }[];
}

/** The request body FCM gets for `job`. */
export function fcmMessage(job: PushJob, ttlS: number): Record<string, unknown> {
  const data = { custom: job.data, push_count: String(job.badge) };
  const ttl = `${ttlS}s`;
  if (job.silent) return { message: { token: job.token, data, android: { priority: 'NORMAL', ttl } } };
  return {
    message: {
      token: job.token,
      notification: { body: job.flash },
      data,
      android: { priority: 'HIGH', ttl, notification: { sound: 'default', notification_count: job.badge } },
    },
  };
}

export class FcmProvider implements Provider {
  readonly name = 'fcm' as const;
  private readonly path: string;
  private readonly warned = new Set<string>();

  constructor(
    private readonly s: FcmSettings,
    private readonly http: H2Client,
    private readonly tokens: AccessTokens,
    private readonly log: Logger,
  ) {
    this.path = `/v1/projects/${encodeURIComponent(s.projectId)}/messages:send`;
  }

  async send(job: PushJob): Promise<Verdict> {
    if (!TOKEN_RE.test(job.token)) return { kind: 'dead', reason: 'not an FCM registration token' };
    const body = Buffer.from(JSON.stringify(fcmMessage(job, this.s.ttlS)), 'utf8');
    if (body.length > MAX_PAYLOAD_BYTES) return { kind: 'failed', reason: `payload of ${body.length} bytes` };
    let bearer: string;
    try {
      bearer = await this.tokens.get();
    } catch (err) {
      const retryable = !(err instanceof OAuthError) || err.retryable;
      return retryable ? { kind: 'retry', reason: reasonOf(err) } : { kind: 'failed', reason: reasonOf(err) };
    }
    let answer: HttpAnswer;
    try {
      answer = await this.http.request(
        { ':method': 'POST', ':path': this.path, authorization: `Bearer ${bearer}`, 'content-type': 'application/json; charset=utf-8' },
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
    const err = errorIn(a.body);
    const code = err?.details?.find((d) => d.errorCode !== undefined)?.errorCode;
    const reason = code ?? err?.status ?? `HTTP ${a.status}`;
    if (a.status === 404 || code === 'UNREGISTERED' || code === 'SENDER_ID_MISMATCH') return { kind: 'dead', reason };
    if (a.status === 400 && aboutToken(err)) return { kind: 'dead', reason: `${reason}: token` };
    if (a.status === 401) {
      this.tokens.invalidate(bearer);
      return { kind: 'retry', reason, retryAfterMs: 0 };
    }
    if (a.status === 429 || a.status >= 500) return { kind: 'retry', reason, retryAfterMs: retryAfterMs(a.headers['retry-after']) };
    if (a.status === 403 && !this.warned.has(reason)) {
      this.warned.add(reason);
      this.log.error({ status: a.status, reason, message: err?.message }, 'FCM refuses the service account: check FCM_SERVICE_ACCOUNT_FILE and the project');
    }
    return { kind: 'failed', reason };
  }
}

function errorIn(body: Buffer): FcmError | undefined {
  try {
    return (JSON.parse(body.toString('utf8')) as { error?: FcmError }).error;
  } catch {
    return undefined;
  }
}

/** An INVALID_ARGUMENT that names the token (the registration token is malformed), not the rest of the message. */
function aboutToken(err: FcmError | undefined): boolean {
  if (!err) return false;
  const fields = (err.details ?? []).flatMap((d) => d.fieldViolations ?? []).map((v) => v.field);
  return fields.includes('message.token') || /registration token/i.test(err.message ?? '');
}
