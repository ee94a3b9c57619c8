import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import {
  addressList,
  AuthResult,
  ClientHandshake,
  isAdmittedAddress,
  isLoopbackHost,
  linkAuthFromEnv,
  PendingLinks,
  ServerGate,
  type GateStep,
  type LinkAuthPolicy,
  type PeerIdentity,
} from './cluster-auth.ts';
import { ErrorCode, isImError } from './errors.ts';

const SECRET = Buffer.from('a-secret-of-enough-length');
const ME: PeerIdentity = { role: 'access-server', name: 'a', instance: Buffer.from('0123456789abcdef') };

function policy(over: Partial<LinkAuthPolicy> = {}): LinkAuthPolicy {
  return { secret: SECRET, trusted: null, handshakeTimeoutMs: 1000, maxPending: 4, maxPendingPerSource: 2, ...over };
}

function frame(bytes: Uint8Array): Pdu {
  const [f] = new FrameDecoder().push(bytes);
  return f!;
}

function resultOf(step: GateStep): { resultCode: number; resultString?: string } {
  const f = frame(step.reply!);
  assert.equal(f.header.commandId, Cid.CID_EXT_AUTH_RESULT);
  return decodeBody(Cid.CID_EXT_AUTH_RESULT, f.body) as { resultCode: number; resultString?: string };
}

/** Runs a whole handshake between a gate and a client; returns the gate's last step and the client's outcome. */
function handshake(gate: ServerGate, client: ClientHandshake): { server: GateStep; done: boolean; error?: Error } {
  const challenge = gate.onFrame(frame(client.hello()));
  if (challenge.close) return { server: challenge, done: false };
  const answer = client.onFrame(frame(challenge.reply!));
  if (answer.error) return { server: challenge, done: false, error: answer.error };
  const server = gate.onFrame(frame(answer.reply!));
  const last = client.onFrame(frame(server.reply!));
  return { server, done: last.done === true, ...(last.error ? { error: last.error } : {}) };
}

test('the same secret on both sides: admitted with the identity the peer proved', () => {
  const gate = new ServerGate(policy(), '10.0.0.9');
  assert.equal(gate.admission, null);
  const r = handshake(gate, new ClientHandshake(SECRET, ME));
  assert.equal(r.done, true);
  assert.equal(resultOf(r.server).resultCode, AuthResult.AUTH_OK);
  assert.deepEqual(gate.admission, { kind: 'authenticated', identity: ME });
});

test('a peer without the secret is refused, and learns nothing it could replay', () => {
  // The server's challenge does not verify under another secret: the peer stops there.
  const wrong = handshake(new ServerGate(policy(), '10.0.0.9'), new ClientHandshake(Buffer.from('another-secret-entirely'), ME));
  assert.equal(wrong.done, false);
  assert.ok(isImError(wrong.error, ErrorCode.AUTH_FAILED));

  // A peer that ignores the server's proof and sends any proof is refused.
  const gate = new ServerGate(policy(), '10.0.0.9');
  const hello = new ClientHandshake(SECRET, ME).hello();
  assert.ok(gate.onFrame(frame(hello)).reply);
  const forged = gate.onFrame(frame(encodePdu({ commandId: Cid.CID_EXT_AUTH_PROOF }, encodeBody(Cid.CID_EXT_AUTH_PROOF, { clientProof: Buffer.alloc(32, 7) }))));
  assert.ok(forged.close);
  assert.equal(resultOf(forged).resultCode, AuthResult.AUTH_REFUSED);
  assert.equal(gate.admission, null);

  // A recorded proof does not open another link: the server's nonce differs each time.
  const recordedGate = new ServerGate(policy(), '10.0.0.9');
  const client = new ClientHandshake(SECRET, ME);
  const recordedHello = client.hello();
  const proof = client.onFrame(frame(recordedGate.onFrame(frame(recordedHello)).reply!)).reply!;
  const replayGate = new ServerGate(policy(), '10.0.0.9');
  replayGate.onFrame(frame(recordedHello));
  const replayed = replayGate.onFrame(frame(proof));
  assert.ok(replayed.close, 'replayed proof refused');
  assert.equal(replayGate.admission, null);
});

test('the identity is bound into the proof: a hello rewritten in transit does not verify', () => {
  const gate = new ServerGate(policy(), '10.0.0.9');
  const client = new ClientHandshake(SECRET, ME);
  const hello = decodeBody(Cid.CID_EXT_AUTH_HELLO, frame(client.hello()).body);
  const rewritten = encodePdu({ commandId: Cid.CID_EXT_AUTH_HELLO }, encodeBody(Cid.CID_EXT_AUTH_HELLO, { ...hello, name: 'b' }));
  const challenge = gate.onFrame(frame(rewritten));
  const proof = client.onFrame(frame(challenge.reply!));
  assert.ok(proof.reply, 'the challenge still verifies: the nonce is the same');
  const step = gate.onFrame(frame(proof.reply));
  assert.ok(step.close);
  assert.equal(gate.admission, null);
});

test('anything but a hello first is refused, unless the address is listed as trusted', () => {
  const heartbeat = frame(encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, new Uint8Array(0)));
  const stranger = new ServerGate(policy({ trusted: addressList('T', '10.1.0.0/16') }), '10.2.0.1');
  const refused = stranger.onFrame(heartbeat);
  assert.ok(refused.close);
  assert.equal(refused.pass, undefined);
  assert.equal(resultOf(refused).resultCode, AuthResult.AUTH_REFUSED);

  for (const addr of ['10.1.2.3', '::ffff:10.1.2.3']) {
    const listed = new ServerGate(policy({ trusted: addressList('T', '10.1.0.0/16') }), addr);
    assert.equal(listed.trustedAddress, true);
    assert.deepEqual(listed.onFrame(heartbeat), { pass: true, admitted: { kind: 'trusted' } });
  }
  // A trusted address may still authenticate (our own server on that host).
  const ours = new ServerGate(policy({ trusted: addressList('T', '10.1.2.3') }), '10.1.2.3');
  assert.equal(handshake(ours, new ClientHandshake(SECRET, ME)).done, true);
  assert.equal(ours.admission?.kind, 'authenticated');
});

test('without a secret a gate is open; the handshake has a deadline', () => {
  const open = new ServerGate(policy({ secret: null }), '127.0.0.1');
  assert.deepEqual(open.admission, { kind: 'open' });
  const gate = new ServerGate(policy({ handshakeTimeoutMs: 100 }), '127.0.0.1');
  assert.equal(gate.inTime(gate.openedAt + 100), true);
  assert.equal(gate.inTime(gate.openedAt + 101), false);
});

test('config: a secret is required beyond loopback; trusted lists and secrets are checked', () => {
  assert.equal(isLoopbackHost('127.0.0.1'), true);
  assert.equal(isLoopbackHost('127.8.0.1'), true);
  assert.equal(isLoopbackHost('::1'), true);
  assert.equal(isLoopbackHost('localhost'), true);
  assert.equal(isLoopbackHost('0.0.0.0'), false);
  assert.equal(isLoopbackHost('::'), false);
  assert.equal(isLoopbackHost('10.0.0.1'), false);
  assert.equal(linkAuthFromEnv({}, '127.0.0.1', 'H', 'T').secret, null);
  assert.throws(() => linkAuthFromEnv({}, '0.0.0.0', 'DB_PROXY_HOST', 'T'), (e) => isImError(e, ErrorCode.BAD_CONFIG) && /DB_PROXY_HOST.*CLUSTER_SECRET/.test(e.message));
  assert.throws(() => linkAuthFromEnv({ CLUSTER_SECRET: 'short' }, '127.0.0.1', 'H', 'T'), /CLUSTER_SECRET/);
  assert.ok(linkAuthFromEnv({ CLUSTER_SECRET: 'long-enough-secret!' }, '0.0.0.0', 'H', 'T').secret);
  assert.throws(() => linkAuthFromEnv({ DB_PROXY_TRUSTED_PEERS: '10.0.0.1, nope' }, '127.0.0.1', 'H', 'DB_PROXY_TRUSTED_PEERS'), /DB_PROXY_TRUSTED_PEERS.*nope/);
  assert.throws(() => addressList('T', '10.0.0.0/33'), /10\.0\.0\.0\/33/);
  const list = addressList('T', '10.0.0.1, fd00::/8');
  assert.ok(list?.check('10.0.0.1', 'ipv4'));
  assert.ok(!list?.check('10.0.0.2', 'ipv4'));
  assert.ok(list?.check('fd12::1', 'ipv6'));
  assert.equal(addressList('T', ' , '), null);
});

test('admission by address: listed (IPv4-mapped as IPv4), or loopback when trusted', () => {
  const list = addressList('T', '10.1.0.0/16, fd00::/8');
  assert.ok(isAdmittedAddress('10.1.2.3', list));
  assert.ok(isAdmittedAddress('::ffff:10.1.2.3', list));
  assert.ok(isAdmittedAddress('fd12::1', list));
  assert.ok(!isAdmittedAddress('10.2.0.1', list));
  assert.ok(!isAdmittedAddress('', list));
  assert.ok(!isAdmittedAddress('10.1.2.3', null));
  for (const lo of ['127.0.0.1', '::ffff:127.0.0.1', '::1']) {
    assert.ok(!isAdmittedAddress(lo, list), `${lo} is not listed`);
    assert.ok(!isAdmittedAddress(lo, null, { trustLoopback: false }));
    assert.ok(isAdmittedAddress(lo, null, { trustLoopback: true }), `${lo} is loopback`);
  }
  assert.ok(!isAdmittedAddress('', null, { trustLoopback: true }));
});

test('handshakes in progress are capped in all and per source', () => {
  const p = new PendingLinks({ maxPending: 3, maxPendingPerSource: 2 });
  assert.equal(p.take('a'), true);
  assert.equal(p.take('a'), true);
  assert.equal(p.take('a'), false, 'per source');
  assert.equal(p.take('b'), true);
  assert.equal(p.take('c'), false, 'in all');
  p.release('a');
  assert.equal(p.take('c'), true);
  p.release('nobody');
  assert.equal(p.size, 3);
});
