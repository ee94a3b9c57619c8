import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ErrorCode, isImError } from '../common/errors.ts';
import { loadConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'push-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ec = join(dir, 'apns.p8');
writeFileSync(ec, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
const rsa = join(dir, 'rsa.pem');
writeFileSync(rsa, rsaPem);
const account = join(dir, 'sa.json');
writeFileSync(account, JSON.stringify({ project_id: 'p1', client_email: 'a@b', private_key: rsaPem, token_uri: 'https://oauth2.example/token' }));

function badConfig(env: Record<string, string>, names: RegExp): void {
  assert.throws(() => loadConfig(env), (err: unknown) => isImError(err, ErrorCode.BAD_CONFIG) && names.test(err.message));
}

test('defaults: TeamTalk\'s 127.0.0.1:8500, loopback trusted, no provider configured', () => {
  const c = loadConfig({});
  assert.deepEqual([c.host, c.port, c.trustLoopback, c.trustedPeers, c.apns, c.fcm, c.http.ca], ['127.0.0.1', 8500, true, null, null, null, undefined]);
  assert.equal(c.linkTimeoutMs, 30_000);
  assert.ok(Object.isFrozen(c));
});

test('listening beyond loopback needs PUSH_TRUSTED_PEERS', () => {
  badConfig({ PUSH_HOST: '0.0.0.0' }, /PUSH_HOST.*PUSH_TRUSTED_PEERS/);
  badConfig({ PUSH_HOST: '0.0.0.0', PUSH_TRUSTED_PEERS: '10.0.0.300' }, /PUSH_TRUSTED_PEERS/);
  const c = loadConfig({ PUSH_HOST: '0.0.0.0', PUSH_TRUSTED_PEERS: '10.0.0.0/8, 192.168.1.7' });
  assert.ok(c.trustedPeers?.check('10.1.2.3', 'ipv4'));
  assert.ok(!c.trustedPeers?.check('11.0.0.1', 'ipv4'));
});

test('APNs: the key file with its id, team and topic; a wrong or missing piece names its variable', () => {
  const base = { APNS_KEY_FILE: ec, APNS_KEY_ID: 'K', APNS_TEAM_ID: 'T', APNS_TOPIC: 'com.x' };
  const c = loadConfig({ ...base, APNS_URL: 'https://api.sandbox.push.apple.com' });
  assert.deepEqual([c.apns?.url, c.apns?.expirationS, c.apns?.key.asymmetricKeyType], ['https://api.sandbox.push.apple.com', 3600, 'ec']);
  assert.equal(loadConfig(base).apns?.url, 'https://api.push.apple.com');
  badConfig({ ...base, APNS_TOPIC: '' }, /APNS_TOPIC/);
  badConfig({ ...base, APNS_KEY_FILE: rsa }, /APNS_KEY_FILE.*rsa/);
  badConfig({ ...base, APNS_KEY_FILE: join(dir, 'missing.p8') }, /APNS_KEY_FILE/);
  badConfig({ ...base, APNS_URL: 'http://api.push.apple.com' }, /APNS_URL/);
  badConfig({ ...base, APNS_TOKEN_REFRESH_MS: '60000' }, /APNS_TOKEN_REFRESH_MS/);
});

test('FCM: the service-account file; FCM_PROJECT_ID overrides its project', () => {
  const c = loadConfig({ FCM_SERVICE_ACCOUNT_FILE: account });
  assert.deepEqual([c.fcm?.url, c.fcm?.projectId, c.fcm?.account.clientEmail, c.fcm?.account.tokenUri], ['https://fcm.googleapis.com', 'p1', 'a@b', 'https://oauth2.example/token']);
  assert.equal(loadConfig({ FCM_SERVICE_ACCOUNT_FILE: account, FCM_PROJECT_ID: 'p2' }).fcm?.projectId, 'p2');
  badConfig({ FCM_SERVICE_ACCOUNT_FILE: ec }, /FCM_SERVICE_ACCOUNT_FILE.*JSON/);
});

test('bounds: the queue holds at least one whole frame; the CA file must be PEM', () => {
  badConfig({ PUSH_QUEUE_MAX_BYTES: '2048', PUSH_MAX_FRAME_BYTES: '4096' }, /PUSH_QUEUE_MAX_BYTES/);
  badConfig({ PUSH_CA_FILE: account }, /PUSH_CA_FILE/);
  badConfig({ PUSH_MAX_ATTEMPTS: '0' }, /PUSH_MAX_ATTEMPTS/);
});
