/**
 * Signed JSON Web Tokens, as the two push services take them (RFC 7515/7519
 * compact form): ES256 for APNs provider tokens, RS256 for Google's
 * service-account assertion. node:crypto only.
 */
import { sign, type KeyObject } from 'node:crypto';

export type JwtAlgorithm = 'ES256' | 'RS256';

export function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * `header.claims.signature`. ES256 signatures are the raw 64-byte r||s
 * (IEEE P1363), not DER, as JWS requires.
 */
export function signJwt(alg: JwtAlgorithm, key: KeyObject, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${base64url(JSON.stringify({ alg, ...header }))}.${base64url(JSON.stringify(claims))}`;
  const signature =
    alg === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key);
  return `${input}.${base64url(signature)}`;
}

/** Seconds since the epoch, as JWT claims count time. */
export function epochSeconds(now = Date.now()): number {
  return Math.floor(now / 1000);
}
