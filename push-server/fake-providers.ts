/**
 * Test stand-ins for APNs and FCM: real TLS HTTP/2 servers (a throw-away
 * self-signed certificate, trusted through PUSH_CA_FILE) that check each
 * request as the real services would (provider JWT signature and claims,
 * topic, OAuth assertion, bearer token) and answer from a per-token script.
 * Anything a real service would refuse is recorded in `problems`.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FCM_SCOPE, JWT_BEARER_GRANT } from './oauth.ts';

/** What a scripted answer is; 'hold' answers 200 once release() is called. */
export type Scripted = { status: number; headers?: Record<string, string>; body?: unknown } | 'hold';

export interface Seen {
  path: string;
  headers: http2.IncomingHttpHeaders;
  json: Record<string, unknown>;
}

export interface TestDir {
  dir: string;
  certFile: string;
  close(): void;
}

/** A temp dir with a self-signed P-256 certificate for 127.0.0.1 (cert.pem, key.pem). */
export function makeTestDir(): TestDir {
  const dir = mkdtempSync(join(tmpdir(), 'push-test-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { dir, certFile: join(dir, 'cert.pem'), close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Verifies a compact JWT; returns [header, claims] or throws. */
export function verifyJwt(jwt: string, key: KeyObject, alg: 'ES256' | 'RS256'): [Record<string, unknown>, Record<string, unknown>] {
  const [h, c, s] = jwt.split('.');
  if (!h || !c || !s) throw new Error('not a compact JWT');
  const data = Buffer.from(`${h}.${c}`);
  const sig = Buffer.from(s, 'base64url');
  const ok = alg === 'ES256' ? verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig) : verify('sha256', data, key, sig);
  if (!ok) throw new Error('bad signature');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  if (header.alg !== alg) throw new Error(`alg ${String(header.alg)}`);
  return [header, JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>];
}

/** A TLS HTTP/2 server (HTTP/1.1 too) that gathers each request's body and hands it to `route`. */
export class FakeService {
  readonly seen: Seen[] = [];
  readonly problems: string[] = [];
  readonly script = new Map<string, Scripted[]>();
  sessions = 0;
  /** Send GOAWAY on the session of the next answered request. */
  goawayNext = false;
  private held: (() => void)[] = [];
  private readonly server: http2.Http2SecureServer;

  constructor(dir: TestDir, private readonly route: (s: FakeService, path: string, headers: http2.IncomingHttpHeaders, body: Buffer) => Scripted) {
    this.server = http2.createSecureServer({
      cert: readFileSync(join(dir.dir, 'cert.pem')),
      key: readFileSync(join(dir.dir, 'key.pem')),
      allowHTTP1: true,
    });
    this.server.on('session', () => this.sessions++);
    this.server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = this.route(this, req.url, req.headers, Buffer.concat(chunks));
        const reply = (a: Exclude<Scripted, 'hold'>): void => {
          res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
          res.end(a.body === undefined ? '' : JSON.stringify(a.body));
          if (this.goawayNext && req.stream) {
            this.goawayNext = false;
            req.stream.session?.goaway();
          }
        };
        if (answer === 'hold') this.held.push(() => reply({ status: 200, body: {} }));
        else reply(answer);
      });
    });
  }

  /** The next scripted answer for `key`, else 200. */
  next(key: string, ok: unknown): Scripted {
    return this.script.get(key)?.shift() ?? { status: 200, body: ok };
  }

  /** Answers every held request. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const h of held) h();
  }

  get heldCount(): number {
    return this.held.length;
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `https://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  close(): Promise<void> {
    this.release();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** An APNs stand-in for key id `keyId`, team `teamId`, topic `topic`; returns the service and the .p8 key file it trusts. */
export function fakeApns(dir: TestDir, keyId: string, teamId: string, topic: string): { service: FakeService; keyFile: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyFile = join(dir.dir, 'apns.p8');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const service = new FakeService(dir, (s, path, headers, body) => {
    const token = /^\/3\/device\/([0-9a-fA-F]+)$/.exec(path)?.[1];
    const auth = String(headers.authorization ?? '');
    try {
      if (headers[':method'] !== 'POST' || !token) throw new Error(`bad request ${String(headers[':method'])} ${path}`);
      if (!auth.startsWith('bearer ')) throw new Error('no bearer');
      const [h, c] = verifyJwt(auth.slice(7), publicKey, 'ES256');
      if (h.kid !== keyId || c.iss !== teamId || typeof c.iat !== 'number' || Math.abs(c.iat - Date.now() / 1000) > 3600) throw new Error('bad kid/iss/iat');
      if (headers['apns-topic'] !== topic) throw new Error(`topic ${String(headers['apns-topic'])}`);
      if (headers['apns-push-type'] !== 'alert' || !headers['apns-expiration']) throw new Error('push type / expiration');
      s.seen.push({ path, headers, json: JSON.parse(body.toString('utf8')) as Record<string, unknown> });
    } catch (err) {
      s.problems.push((err as Error).message);
      return { status: 403, body: { reason: 'InvalidProviderToken' } };
    }
    return s.next(token, {});
  });
  return { service, keyFile };
}

/** An FCM stand-in (OAuth token endpoint at /token and messages:send) and the service-account file it trusts. */
export function fakeFcm(dir: TestDir, projectId: string): { service: FakeService; accountFile(origin: string): string; issued: string[] } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = 'push@test-project.iam.gserviceaccount.com';
  const issued: string[] = [];
  let origin = '';
  const service = new FakeService(dir, (s, path, headers, body) => {
    try {
      if (path === '/token') {
        const form = new URLSearchParams(body.toString('utf8'));
        if (form.get('grant_type') !== JWT_BEARER_GRANT) throw new Error('grant_type');
        const [, c] = verifyJwt(form.get('assertion') ?? '', publicKey, 'RS256');
        if (c.iss !== email || c.aud !== `${origin}/token` || c.scope !== FCM_SCOPE || Number(c.exp) <= Date.now() / 1000) throw new Error('bad assertion claims');
        const token = `ya29.test-${issued.length + 1}`;
        issued.push(token);
        return { status: 200, body: { access_token: token, expires_in: 3599, token_type: 'Bearer' } };
      }
      if (path !== `/v1/projects/${projectId}/messages:send` || headers[':method'] !== 'POST') throw new Error(`bad request ${path}`);
      const bearer = String(headers.authorization ?? '').replace(/^Bearer /, '');
      if (!issued.includes(bearer)) return { status: 401, body: { error: { status: 'UNAUTHENTICATED' } } };
      const json = JSON.parse(body.toString('utf8')) as { message?: { token?: string } };
      if (typeof json.message?.token !== 'string') throw new Error('no message.token');
      s.seen.push({ path, headers, json });
      return s.next(json.message.token, { name: `projects/${projectId}/messages/1` });
    } catch (err) {
      s.problems.push((err as Error).message);
      return { status: 400, body: { error: { status: 'INVALID_ARGUMENT', message: (err as Error).message } } };
    }
  });
  const accountFile = (o: string): string => {
    origin = o;
    const file = join(dir.dir, 'service-account.json');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(file, JSON.stringify({ type: 'service_account', project_id: projectId, client_email: email, private_key: pem, private_key_id: 'k1', token_uri: `${o}/token` }));
    return file;
  };
  return { service, accountFile, issued };
}

export interface Fakes {
  dir: TestDir;
  apns: FakeService;
  fcm: FakeService;
  /** Access tokens the fake FCM accepts (empty it to revoke them). */
  fcmIssued: string[];
  /** push-server settings pointing at both fakes (ports 0, the test CA trusted, fast retries). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export const TEST_TOPIC = 'com.mogujie.TeamTalk';

/** Both fakes listening, and the environment a push-server needs to use them. */
export async function startFakes(): Promise<Fakes> {
  const dir = makeTestDir();
  const a = fakeApns(dir, 'KEY1234567', 'TEAM765432', TEST_TOPIC);
  const f = fakeFcm(dir, 'tt-test');
  const [apnsUrl, fcmUrl] = await Promise.all([a.service.listen(), f.service.listen()]);
  const env = {
    PUSH_PORT: '0', PUSH_OPS_PORT: '0', PUSH_CA_FILE: dir.certFile,
    APNS_KEY_FILE: a.keyFile, APNS_KEY_ID: 'KEY1234567', APNS_TEAM_ID: 'TEAM765432', APNS_TOPIC: TEST_TOPIC, APNS_URL: apnsUrl,
    FCM_SERVICE_ACCOUNT_FILE: f.accountFile(fcmUrl), FCM_URL: fcmUrl,
    PUSH_RETRY_BASE_MS: '20', PUSH_RETRY_MAX_MS: '100', PUSH_MAX_ATTEMPTS: '3',
  };
  return {
    dir, apns: a.service, fcm: f.service, fcmIssued: f.issued, env,
    async close() {
      await Promise.all([a.service.close(), f.service.close()]);
      dir.close();
    },
  };
}
