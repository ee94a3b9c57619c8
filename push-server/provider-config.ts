/**
 * APNs and FCM settings, files included: the .p8 key, the service-account
 * JSON and the extra CA are read and parsed here, at start-up, so that a
 * bad file fails with IM_ERR_BAD_CONFIG naming its variable rather than on
 * the first push.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { intFromEnv, rawFromEnv, stringFromEnv, urlFromEnv, type Env } from '../common/config.ts';
import { ErrorCode, ImError } from '../common/errors.ts';
import type { ApnsSettings } from './apns.ts';
import type { FcmSettings } from './fcm.ts';
import type { ServiceAccount } from './oauth.ts';

export interface FcmConfig extends FcmSettings {
  /** Origin of the API (https://fcm.googleapis.com). */
  url: string;
  account: ServiceAccount;
}

function bad(name: string, problem: string, cause?: unknown): ImError {
  return new ImError(ErrorCode.BAD_CONFIG, `${name} ${problem}`, { cause });
}

function readText(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw bad(name, `cannot be read (${path}): ${(err as Error).message}`, err);
  }
}

function privateKey(name: string, pem: string, type: 'ec' | 'rsa'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw bad(name, `does not hold a PEM private key: ${(err as Error).message}`, err);
  }
  if (key.asymmetricKeyType !== type) throw bad(name, `holds an ${key.asymmetricKeyType} key, ${type === 'ec' ? 'an EC P-256 (.p8)' : 'an RSA'} key expected`);
  return key;
}

/** An https origin (scheme, host, port), without path. */
function originFromEnv(env: Env, name: string, fallback: string): string {
  const url = new URL(urlFromEnv(env, name, ['https']) ?? fallback);
  if (url.pathname !== '/' || url.search !== '') throw bad(name, 'must be an origin without path or query');
  return url.origin;
}

/** Node's roots plus PUSH_CA_FILE (a private CA, or a test's), or undefined (the roots alone). */
export function caFromEnv(env: Env): string[] | undefined {
  const path = rawFromEnv(env, 'PUSH_CA_FILE');
  if (path === undefined) return undefined;
  const pem = readText('PUSH_CA_FILE', path);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw bad('PUSH_CA_FILE', 'holds no PEM certificate');
  return [...rootCertificates, pem];
}

/** APNs settings, or null when APNS_KEY_FILE is unset (iOS tokens are then answered failed). */
export function apnsFromEnv(env: Env): ApnsSettings | null {
  const keyFile = rawFromEnv(env, 'APNS_KEY_FILE');
  if (keyFile === undefined) return null;
  const required = (name: string): string => {
    const v = rawFromEnv(env, name);
    if (v === undefined) throw bad(name, 'is not set (required with APNS_KEY_FILE)');
    return v;
  };
  return {
    url: originFromEnv(env, 'APNS_URL', 'https://api.push.apple.com'),
    keyId: required('APNS_KEY_ID'),
    teamId: required('APNS_TEAM_ID'),
    topic: required('APNS_TOPIC'),
    key: privateKey('APNS_KEY_FILE', readText('APNS_KEY_FILE', keyFile), 'ec'),
    expirationS: intFromEnv(env, 'APNS_EXPIRATION_S', 3600, { min: 0, max: 30 * 86400 }),
    sound: stringFromEnv(env, 'APNS_SOUND', 'bingbong.aiff'),
    tokenRefreshMs: intFromEnv(env, 'APNS_TOKEN_REFRESH_MS', 50 * 60_000, { min: 20 * 60_000, max: 59 * 60_000 }),
  };
}

/** FCM settings, or null when FCM_SERVICE_ACCOUNT_FILE is unset (Android tokens are then answered failed). */
export function fcmFromEnv(env: Env): FcmConfig | null {
  const file = rawFromEnv(env, 'FCM_SERVICE_ACCOUNT_FILE');
  if (file === undefined) return null;
  const name = 'FCM_SERVICE_ACCOUNT_FILE';
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readText(name, file)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ImError) throw err;
    throw bad(name, 'is not JSON', err);
  }
  const field = (key: string): string => {
    const v = json[key];
    if (typeof v !== 'string' || v === '') throw bad(name, `has no "${key}"`);
    return v;
  };
  const tokenUri = typeof json.token_uri === 'string' ? json.token_uri : 'https://oauth2.googleapis.com/token';
  if (!tokenUri.startsWith('https://')) throw bad(name, `"token_uri" must be https, got "${tokenUri}"`);
  const projectId = rawFromEnv(env, 'FCM_PROJECT_ID') ?? field('project_id');
  return {
    url: originFromEnv(env, 'FCM_URL', 'https://fcm.googleapis.com'),
    projectId,
    ttlS: intFromEnv(env, 'FCM_TTL_S', 3600, { min: 0, max: 28 * 86400 }),
    account: {
      clientEmail: field('client_email'),
      privateKey: privateKey(name, field('private_key'), 'rsa'),
      privateKeyId: typeof json.private_key_id === 'string' ? json.private_key_id : undefined,
      tokenUri,
      projectId,
    },
  };
}
