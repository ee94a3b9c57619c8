/**
 * OAuth 2.0 access tokens for a Google service account (RFC 7523 JWT
 * bearer grant): an RS256 assertion {iss: client_email, scope, aud:
 * token_uri, iat, exp} is POSTed to token_uri; the access token is cached
 * until shortly before it expires and fetched once for all callers.
 */
import https from 'node:https';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { epochSeconds, signJwt } from './jwt.ts';
import type { HttpAnswer } from './types.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** A cached token is renewed this long before it expires. */
const RENEW_BEFORE_MS = 5 * 60_000;
const MAX_ANSWER_BYTES = 64 * 1024;

export interface ServiceAccount {
  clientEmail: string;
  privateKey: KeyObject;
  /** Put in the assertion's header as `kid` when the file names it. */
  privateKeyId: string | undefined;
  tokenUri: string;
  projectId: string;
}

/** A token could not be had; `retryable` when a later attempt may succeed (5xx, 429, network). */
export class OAuthError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'OAuthError';
  }
}

export interface HttpsOptions {
  ca: readonly string[] | undefined;
  timeoutMs: number;
}

/** One HTTPS POST (HTTP/1.1; token endpoints are called once an hour). */
export function httpsPost(url: string, headers: Record<string, string>, body: Buffer, opts: HttpsOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, ...(opts.ca ? { ca: [...opts.ca] } : {}), timeout: opts.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes <= MAX_ANSWER_BYTES) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export class AccessTokens {
  private cached: { token: string; renewAt: number } | null = null;
  private fetching: Promise<string> | null = null;

  constructor(
    private readonly account: ServiceAccount,
    private readonly opts: HttpsOptions,
    private readonly log: Logger,
  ) {}

  /** A valid access token; rejects with OAuthError. */
  get(now = Date.now()): Promise<string> {
    if (this.cached && now < this.cached.renewAt) return Promise.resolve(this.cached.token);
    this.fetching ??= this.fetch().finally(() => (this.fetching = null));
    return this.fetching;
  }

  /** The service refused `token` (401): the next get() fetches a new one. */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = null;
  }

  private async fetch(): Promise<string> {
    const a = this.account;
    const iat = epochSeconds();
    const assertion = signJwt('RS256', a.privateKey, { typ: 'JWT', ...(a.privateKeyId ? { kid: a.privateKeyId } : {}) }, {
      iss: a.clientEmail,
      scope: FCM_SCOPE,
      aud: a.tokenUri,
      iat,
      exp: iat + 3600,
    });
    const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString();
    let answer: HttpAnswer;
    try {
      answer = await httpsPost(a.tokenUri, { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form), this.opts);
    } catch (err) {
      throw new OAuthError(`token endpoint unreachable: ${(err as Error).message}`, true);
    }
    const parsed = parseJson(answer.body);
    if (answer.status !== 200 || typeof parsed?.access_token !== 'string') {
      const why = `token endpoint answered ${answer.status}${typeof parsed?.error === 'string' ? ` ${parsed.error}` : ''}`;
      const retryable = answer.status === 429 || answer.status >= 500;
      if (!retryable) this.log.error({ status: answer.status, error: parsed?.error, account: a.clientEmail }, 'service account refused: check FCM_SERVICE_ACCOUNT_FILE');
      throw new OAuthError(why, retryable);
    }
    const lifeMs = (typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 3600) * 1000;
    this.cached = { token: parsed.access_token, renewAt: Date.now() + Math.max(lifeMs / 2, lifeMs - RENEW_BEFORE_MS) };
    this.log.debug({ lifeMs }, 'FCM access token obtained');
    return parsed.access_token;
  }
}

function parseJson(body: Buffer): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
