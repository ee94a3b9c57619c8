/**
 * Authentication of server-to-server links (db-proxy and route-server
 * ports), on the shared CLUSTER_SECRET.
 *
 *   peer   -> CID_EXT_AUTH_HELLO      { version, client_nonce, role, name, instance }
 *   server -> CID_EXT_AUTH_CHALLENGE  { server_nonce, server_proof }
 *   peer   -> CID_EXT_AUTH_PROOF      { client_proof }
 *   server -> CID_EXT_AUTH_RESULT     { result_code }
 *
 * Both proofs are HMAC-SHA256 under the secret over both nonces (and the
 * peer's identity), so the secret never crosses the wire, a recorded
 * handshake cannot be replayed (fresh nonces each side), and the peer also
 * learns that the server holds the secret. Before the result nothing but the
 * handshake is read from a link, frames are capped at a few hundred bytes,
 * and a link that has not finished within the handshake timeout is dropped.
 *
 * A server without a secret is "open" (links are not authenticated); config
 * refuses that anywhere but on loopback. TeamTalk's own C++ servers cannot
 * present a secret: a server admits a peer that starts with anything but
 * HELLO only when its address is listed as trusted, never by default.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { IM } from '../proto/messages.ts';
import { ErrorCode, ImError } from './errors.ts';
import { intFromEnv, rawFromEnv, type Env } from './config.ts';

export const AUTH_VERSION = 1;
export const AuthResult = IM.Ext.AuthResultCode;
/** Largest frame read from a link before it authenticated (a HELLO or PROOF is < 200 bytes). */
export const PRE_AUTH_MAX_FRAME_BYTES = 512;
const NONCE_BYTES = 32;
const MIN_SECRET_CHARS = 16;

/** Who a peer says it is; bound into its proof. */
export interface PeerIdentity {
  role: string;
  /** An access server's server id; a label for tools. */
  name: string;
  /** Random per process start: tells a reconnect of the same process from another process. */
  instance: Buffer;
}

/** How a server admits links. */
export interface LinkAuthPolicy {
  /** null: links are not authenticated (allowed on loopback only). */
  secret: Buffer | null;
  /** Addresses admitted without a handshake (TeamTalk's C++ servers); null: none. */
  trusted: net.BlockList | null;
  /** A link must finish the handshake within this. */
  handshakeTimeoutMs: number;
  /** Links not yet authenticated, at once, in all and per source address. */
  maxPending: number;
  maxPendingPerSource: number;
}

/** How a link was admitted. */
export type Admission =
  | { kind: 'authenticated'; identity: PeerIdentity }
  | { kind: 'trusted' }
  | { kind: 'open' };

/** A random instance id for this process's outgoing links. */
export const PROCESS_INSTANCE: Buffer = randomBytes(16);

function mac(secret: Buffer, label: string, parts: readonly (Uint8Array | string)[]): Buffer {
  const h = createHmac('sha256', secret).update(label);
  for (const p of parts) {
    const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    // Length-prefixed so that no two different part lists hash alike.
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    h.update(len).update(bytes);
  }
  return h.digest();
}

function serverProof(secret: Buffer, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return mac(secret, 'ttx-auth-1 server', [clientNonce, serverNonce]);
}

function clientProof(secret: Buffer, serverNonce: Uint8Array, clientNonce: Uint8Array, id: PeerIdentity): Buffer {
  return mac(secret, 'ttx-auth-1 client', [serverNonce, clientNonce, id.role, id.name, id.instance]);
}

function equalMac(a: Uint8Array, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function resultPdu(code: number, text: string): Uint8Array {
  return encodePdu({ commandId: Cid.CID_EXT_AUTH_RESULT }, encodeBody(Cid.CID_EXT_AUTH_RESULT, { resultCode: code, resultString: text }));
}

/** What the link does with one frame during the handshake. */
export interface GateStep {
  /** Write this to the peer. */
  reply?: Uint8Array;
  /** Hand this frame on as an ordinary request (a trusted peer's first frame). */
  pass?: boolean;
  /** Close the link (after writing `reply`), for this reason. */
  close?: string;
  /** The link was admitted by this frame. */
  admitted?: Admission;
}

/**
 * The server side of one link's handshake. `admission` is set once the link
 * may send requests; until then every frame goes through `onFrame`.
 */
export class ServerGate {
  admission: Admission | null = null;
  readonly openedAt = Date.now();
  private clientNonce: Uint8Array | null = null;
  private serverNonce: Buffer | null = null;
  private hello: PeerIdentity | null = null;

  constructor(
    private readonly policy: LinkAuthPolicy,
    readonly remoteAddress: string,
  ) {
    if (!policy.secret) this.admission = { kind: 'open' };
  }

  /** A trusted address: its frames may be large from the start. */
  get trustedAddress(): boolean {
    return isAdmittedAddress(this.remoteAddress, this.policy.trusted);
  }

  /** True while the handshake may still go on; false once it took too long. */
  inTime(now = Date.now()): boolean {
    return this.admission !== null || now - this.openedAt <= this.policy.handshakeTimeoutMs;
  }

  onFrame(pdu: Pdu): GateStep {
    const secret = this.policy.secret;
    if (!secret) return { pass: true };
    const cid = pdu.header.commandId;
    if (this.serverNonce === null) {
      if (cid !== Cid.CID_EXT_AUTH_HELLO) {
        if (this.trustedAddress) {
          this.admission = { kind: 'trusted' };
          return { pass: true, admitted: this.admission };
        }
        return this.refuse(AuthResult.AUTH_REFUSED, `command 0x${cid.toString(16)} before authentication`);
      }
      let hello: IM.Ext.IMAuthHello;
      try {
        hello = decodeBody(Cid.CID_EXT_AUTH_HELLO, pdu.body);
      } catch {
        return this.refuse(AuthResult.AUTH_REFUSED, 'undecodable hello');
      }
      if (hello.version !== AUTH_VERSION || hello.clientNonce.length !== NONCE_BYTES || hello.instance.length === 0) {
        return this.refuse(AuthResult.AUTH_REFUSED, `unsupported hello (version ${hello.version})`);
      }
      this.clientNonce = Buffer.from(hello.clientNonce);
      this.hello = { role: hello.role, name: hello.name, instance: Buffer.from(hello.instance) };
      this.serverNonce = randomBytes(NONCE_BYTES);
      const body = encodeBody(Cid.CID_EXT_AUTH_CHALLENGE, {
        serverNonce: this.serverNonce,
        serverProof: serverProof(secret, this.clientNonce, this.serverNonce),
      });
      return { reply: encodePdu({ commandId: Cid.CID_EXT_AUTH_CHALLENGE }, body) };
    }
    if (cid !== Cid.CID_EXT_AUTH_PROOF) return this.refuse(AuthResult.AUTH_REFUSED, `command 0x${cid.toString(16)} before authentication`);
    let proof: IM.Ext.IMAuthProof;
    try {
      proof = decodeBody(Cid.CID_EXT_AUTH_PROOF, pdu.body);
    } catch {
      return this.refuse(AuthResult.AUTH_REFUSED, 'undecodable proof');
    }
    const want = clientProof(secret, this.serverNonce, this.clientNonce!, this.hello!);
    if (!equalMac(proof.clientProof, want)) return this.refuse(AuthResult.AUTH_REFUSED, 'wrong proof (CLUSTER_SECRET differs)');
    this.admission = { kind: 'authenticated', identity: this.hello! };
    return { reply: resultPdu(AuthResult.AUTH_OK, 'ok'), admitted: this.admission };
  }

  private refuse(code: number, why: string): GateStep {
    return { reply: resultPdu(code, why), close: `authentication failed: ${why}` };
  }
}

/** A refusal to send on an authenticated link that may not go on (e.g. a duplicate server id). */
export function refusalPdu(code: number, why: string): Uint8Array {
  return resultPdu(code, why);
}

/** What the peer side does with one frame during its handshake. */
export interface ClientStep {
  reply?: Uint8Array;
  /** The server accepted us. */
  done?: boolean;
  /** The handshake failed (close the link). */
  error?: ImError;
}

/** The peer side of a link's handshake: `hello()` first, then every frame until done. */
export class ClientHandshake {
  private readonly clientNonce = randomBytes(NONCE_BYTES);
  private challenged = false;

  constructor(
    private readonly secret: Buffer,
    private readonly identity: PeerIdentity,
  ) {}

  hello(): Uint8Array {
    const body = encodeBody(Cid.CID_EXT_AUTH_HELLO, {
      version: AUTH_VERSION,
      clientNonce: this.clientNonce,
      role: this.identity.role,
      name: this.identity.name,
      instance: this.identity.instance,
    });
    return encodePdu({ commandId: Cid.CID_EXT_AUTH_HELLO }, body);
  }

  onFrame(pdu: Pdu): ClientStep {
    const cid = pdu.header.commandId;
    try {
      if (cid === Cid.CID_EXT_AUTH_CHALLENGE && !this.challenged) {
        const ch = decodeBody(Cid.CID_EXT_AUTH_CHALLENGE, pdu.body);
        if (!equalMac(ch.serverProof, serverProof(this.secret, this.clientNonce, ch.serverNonce))) {
          return { error: new ImError(ErrorCode.AUTH_FAILED, 'the server does not hold our CLUSTER_SECRET') };
        }
        this.challenged = true;
        const body = encodeBody(Cid.CID_EXT_AUTH_PROOF, { clientProof: clientProof(this.secret, ch.serverNonce, this.clientNonce, this.identity) });
        return { reply: encodePdu({ commandId: Cid.CID_EXT_AUTH_PROOF }, body) };
      }
      if (cid === Cid.CID_EXT_AUTH_RESULT) {
        const r = decodeBody(Cid.CID_EXT_AUTH_RESULT, pdu.body);
        if (r.resultCode === AuthResult.AUTH_OK && this.challenged) return { done: true };
        const text = r.resultCode === AuthResult.AUTH_NOT_CONFIGURED ? 'the server has no CLUSTER_SECRET' : (r.resultString ?? `code ${r.resultCode}`);
        return { error: new ImError(ErrorCode.AUTH_FAILED, `link refused: ${text}`) };
      }
    } catch (err) {
      return { error: new ImError(ErrorCode.AUTH_FAILED, 'undecodable handshake answer', { cause: err }) };
    }
    return { error: new ImError(ErrorCode.AUTH_FAILED, `command 0x${cid.toString(16)} during the handshake`) };
  }
}

/**
 * Runs the peer side of the handshake on a freshly connected raw socket
 * (tools and load generators that do their own framing), before the caller
 * reads from it. Bytes after the result are put back on the socket, which
 * is left paused: the caller attaches its reader and resumes it.
 */
export function authenticateSocket(socket: net.Socket, secret: Buffer, identity: PeerIdentity, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const hs = new ClientHandshake(secret, identity);
    const decoder = new FrameDecoder({ maxFrameLength: PRE_AUTH_MAX_FRAME_BYTES });
    const finish = (err: Error | null, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) {
        socket.destroy();
        reject(err);
        return;
      }
      if (rest && rest.length > 0) socket.unshift(rest);
      resolve();
    };
    const onClose = (): void => finish(new ImError(ErrorCode.AUTH_FAILED, 'connection closed during the handshake'));
    const onData = (chunk: Buffer): void => {
      const { frames, error } = decoder.read(chunk);
      for (let i = 0; i < frames.length; i++) {
        const step = hs.onFrame(frames[i]!);
        if (step.error) return finish(step.error);
        if (step.reply) socket.write(step.reply);
        if (step.done) {
          // Frames after the result belong to the caller: re-encode what was already cut.
          const later = frames.slice(i + 1).map((f) => Buffer.from(encodePdu(f.header, f.body)));
          return finish(null, Buffer.concat([...later, decoder.takeBuffered()]));
        }
      }
      if (error) finish(new ImError(ErrorCode.AUTH_FAILED, `unframeable handshake answer: ${error.message}`));
    };
    const timer = setTimeout(() => finish(new ImError(ErrorCode.TIMEOUT, `handshake not done in ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(hs.hello());
  });
}

/**
 * True when a peer at `address` (a socket's remote address; "" when it is
 * not known) is admitted by address alone: it is in `list` (an IPv4-mapped
 * IPv6 address is checked as its IPv4 form), or it is loopback and
 * `trustLoopback` is set. A null list admits no one by listing.
 */
export function isAdmittedAddress(address: string, list: net.BlockList | null, opts: { trustLoopback?: boolean } = {}): boolean {
  if (address === '') return false;
  if (opts.trustLoopback === true && isLoopbackHost(address)) return true;
  if (!list) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return net.isIPv4(v4) ? list.check(v4, 'ipv4') : list.check(address, 'ipv6');
}

/** Parses "10.0.0.5, 10.1.0.0/16, ::1" into a BlockList; a bad entry throws IM_ERR_BAD_CONFIG naming `name`. */
export function addressList(name: string, text: string): net.BlockList | null {
  const entries = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) return null;
  const list = new net.BlockList();
  for (const e of entries) {
    const [addr, bits, extra] = e.split('/');
    const family = net.isIPv4(addr!) ? 'ipv4' : net.isIPv6(addr!) ? 'ipv6' : null;
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new ImError(ErrorCode.BAD_CONFIG, `${name}: "${e}" is not an address or address/prefix`);
    }
    if (bits === undefined) list.addAddress(addr!, family);
    else list.addSubnet(addr!, prefix, family);
  }
  return list;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** CLUSTER_SECRET as bytes, or null when unset; too short is a config error. */
export function clusterSecretFromEnv(env: Env): Buffer | null {
  const raw = rawFromEnv(env, 'CLUSTER_SECRET');
  if (raw === undefined) return null;
  if (raw.length < MIN_SECRET_CHARS) throw new ImError(ErrorCode.BAD_CONFIG, `CLUSTER_SECRET must be at least ${MIN_SECRET_CHARS} characters`);
  return Buffer.from(raw, 'utf8');
}

/**
 * The link policy of a server listening on `host` (`hostVar` names its
 * setting): the secret, the trusted list `trustedVar`, and the handshake
 * bounds. Listening beyond loopback without a secret is a config error.
 */
export function linkAuthFromEnv(env: Env, host: string, hostVar: string, trustedVar: string): LinkAuthPolicy {
  const secret = clusterSecretFromEnv(env);
  if (!secret && !isLoopbackHost(host)) {
    throw new ImError(ErrorCode.BAD_CONFIG, `${hostVar} is ${host}, beyond loopback: set CLUSTER_SECRET (the same on every server of the cluster) so that links are authenticated`);
  }
  const trusted = addressList(trustedVar, rawFromEnv(env, trustedVar) ?? '');
  return {
    secret,
    trusted,
    handshakeTimeoutMs: intFromEnv(env, 'CLUSTER_HANDSHAKE_TIMEOUT_MS', 3000, { min: 100, max: 60_000 }),
    maxPending: intFromEnv(env, 'CLUSTER_MAX_PENDING_LINKS', 64, { min: 1, max: 65536 }),
    maxPendingPerSource: intFromEnv(env, 'CLUSTER_MAX_PENDING_LINKS_PER_SOURCE', 8, { min: 1, max: 65536 }),
  };
}

/** Counts links that have not finished their handshake, in all and per source address. */
export class PendingLinks {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(private readonly policy: Pick<LinkAuthPolicy, 'maxPending' | 'maxPendingPerSource'>) {}

  get size(): number {
    return this.total;
  }

  /** Takes a place for a new link from `source`; false when there is none. */
  take(source: string): boolean {
    const n = this.bySource.get(source) ?? 0;
    if (this.total >= this.policy.maxPending || n >= this.policy.maxPendingPerSource) return false;
    this.bySource.set(source, n + 1);
    this.total++;
    return true;
  }

  /** Gives back the place of a link from `source` (admitted or closed). */
  release(source: string): void {
    const n = this.bySource.get(source);
    if (n === undefined) return;
    if (n <= 1) this.bySource.delete(source);
    else this.bySource.set(source, n - 1);
    this.total--;
  }
}
