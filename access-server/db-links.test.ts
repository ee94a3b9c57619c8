import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import { parseAttach } from '../common/attach.ts';
import { isImError } from '../common/errors.ts';
import { ANSWER_FLAG_OUTCOME_UNKNOWN } from '../common/outcome.ts';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { addressesFromEnv, loadConfig } from './config.ts';
import { DbLinks } from './db-links.ts';

const silent = pino({ level: 'silent' });

/** A fake db-proxy: `answer` decides what each request gets (null: nothing). */
async function fakeDbProxy(answer: (pdu: Pdu, sock: net.Socket) => Uint8Array | null): Promise<{ port: number; seen: Pdu[]; close(): void }> {
  const seen: Pdu[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    const decoder = new FrameDecoder();
    sock.on('error', () => {});
    sock.on('data', (chunk) => {
      for (const f of decoder.push(chunk)) {
        if (f.header.commandId === Cid.CID_OTHER_HEARTBEAT) continue;
        seen.push(f);
        const out = answer(f, sock);
        if (out) sock.write(out);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function links(port: number, env: Record<string, string> = {}): DbLinks {
  const config = loadConfig({ DB_PROXY_ADDRS: `127.0.0.1:${port}`, ACCESS_DB_LINKS_PER_PROXY: '4', ...env });
  return new DbLinks(config, silent);
}

const echoMsgData = (pdu: Pdu): Uint8Array => {
  const m = decodeBody(Cid.CID_MSG_DATA, pdu.body);
  return encodePdu({ commandId: Cid.CID_MSG_DATA, seqNum: pdu.header.seqNum }, encodeBody(Cid.CID_MSG_DATA, { ...m, msgId: 7 }));
};

test('attach_data carries TeamTalk\'s handle first, then our request id and the client address', async (t) => {
  const fake = await fakeDbProxy(echoMsgData);
  const db = links(fake.port);
  t.after(() => (db.destroy(), fake.close()));
  await db.whenReady(2000);
  const msg = { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 1, msgType: 1, msgData: Buffer.from('x') };
  const answer = await db.request<{ msgId: number }>(Cid.CID_MSG_DATA, msg, '1:2', 42);
  assert.equal(answer.commandId, Cid.CID_MSG_DATA);
  assert.equal(answer.message.msgId, 7);
  const attach = decodeBody(Cid.CID_MSG_DATA, fake.seen[0]!.body).attachData;
  assert.deepEqual([...attach.subarray(0, 12)], [0, 0, 0, 1, 0, 0, 0, 42, 0, 0, 0, 0]);
  assert.equal(parseAttach(attach)?.connId, 42);
  assert.ok((parseAttach(attach)?.requestId ?? 0) > 0);
});

test('an answer reaches only its own request: a late answer on another request\'s seq is dropped', async (t) => {
  let held: Pdu | null = null;
  const fake = await fakeDbProxy((pdu, sock) => {
    const m = decodeBody(Cid.CID_MSG_DATA, pdu.body);
    if (m.toSessionId === 2) {
      held = pdu; // never answered in time
      return null;
    }
    // First the late answer of the held request, on this request's seq, then this request's own answer.
    const late = decodeBody(Cid.CID_MSG_DATA, held!.body);
    sock.write(encodePdu({ commandId: Cid.CID_MSG_DATA, seqNum: pdu.header.seqNum }, encodeBody(Cid.CID_MSG_DATA, { ...late, msgId: 666 })));
    return encodePdu({ commandId: Cid.CID_MSG_DATA, seqNum: pdu.header.seqNum }, encodeBody(Cid.CID_MSG_DATA, { ...m, msgId: 7 }));
  });
  const db = new DbLinks(loadConfig({ DB_PROXY_ADDRS: `127.0.0.1:${fake.port}`, ACCESS_DB_LINKS_PER_PROXY: '1', ACCESS_DB_TIMEOUT_MS: '100' }), silent);
  t.after(() => (db.destroy(), fake.close()));
  await db.whenReady(2000);
  const msg = (to: number) => ({ fromUserId: 1, toSessionId: to, msgId: 0, createTime: 1, msgType: 1, msgData: Buffer.from('x') });
  await assert.rejects(db.request(Cid.CID_MSG_DATA, msg(2), 'k', 5), (e) => isImError(e, 'IM_ERR_TIMEOUT'));
  const answer = await db.request<{ msgId: number; toSessionId: number }>(Cid.CID_MSG_DATA, msg(3), 'k', 6);
  assert.deepEqual([answer.message.toSessionId, answer.message.msgId], [3, 7]);
  assert.equal(db.stats.unmatched + db.stats.late, 1);
});

test('one order key always uses one link while it is up', async (t) => {
  const used = new Map<string, Set<net.Socket>>();
  const fake = await fakeDbProxy((pdu, sock) => {
    const m = decodeBody(Cid.CID_MSG_DATA, pdu.body);
    const key = `${m.fromUserId}:${m.toSessionId}`;
    if (!used.has(key)) used.set(key, new Set());
    used.get(key)!.add(sock);
    return echoMsgData(pdu);
  });
  const db = links(fake.port);
  t.after(() => (db.destroy(), fake.close()));
  await new Promise((r) => setTimeout(r, 200));
  const sends = [];
  for (let i = 0; i < 50; i++) {
    for (const to of [2, 3, 4, 5]) {
      const msg = { fromUserId: 1, toSessionId: to, msgId: 0, createTime: 1, msgType: 1, msgData: Buffer.from('x') };
      sends.push(db.request(Cid.CID_MSG_DATA, msg, `1:${to}`));
    }
  }
  await Promise.all(sends);
  for (const socks of used.values()) assert.equal(socks.size, 1);
});

test('no answer in time rejects with IM_ERR_TIMEOUT; a command without answer resolves once sent', async (t) => {
  const fake = await fakeDbProxy(() => null);
  const db = links(fake.port, { ACCESS_DB_TIMEOUT_MS: '100' });
  t.after(() => (db.destroy(), fake.close()));
  await db.whenReady(2000);
  await assert.rejects(db.request(Cid.CID_OTHER_VALIDATE_REQ, { userName: 'a', password: 'b' }), (e) => isImError(e, 'IM_ERR_TIMEOUT'));
  const told = await db.request(Cid.CID_MSG_READ_ACK, { userId: 1, sessionId: 2, msgId: 3, sessionType: 1 });
  assert.equal(told.commandId, 0);
});

test('after CID_OTHER_STOP_RECV_PACKET a link takes no new requests; a closed link fails its pending ones', async (t) => {
  const fake = await fakeDbProxy((pdu, sock) => {
    if (pdu.header.commandId === Cid.CID_OTHER_VALIDATE_REQ) {
      sock.write(encodePdu({ commandId: Cid.CID_OTHER_STOP_RECV_PACKET }, new Uint8Array(0)));
      setTimeout(() => sock.destroy(), 20);
    }
    return null;
  });
  const db = links(fake.port, { ACCESS_DB_LINKS_PER_PROXY: '1' });
  t.after(() => (db.destroy(), fake.close()));
  await db.whenReady(2000);
  await assert.rejects(db.request(Cid.CID_OTHER_VALIDATE_REQ, { userName: 'a', password: 'b' }), (e) => isImError(e, 'IM_ERR_CONNECTION_CLOSED'));
  // reconnects by itself (backoff from 100 ms)
  await db.whenReady(2000);
});

test('bad addresses and values name their variable', () => {
  assert.deepEqual(addressesFromEnv({ X: 'a:1, [::1]:2' }, 'X', ''), [{ host: 'a', port: 1 }, { host: '::1', port: 2 }]);
  assert.throws(() => addressesFromEnv({ X: 'nohost' }, 'X', ''), /X must be/);
  assert.throws(() => loadConfig({ ACCESS_PORT: 'eighty' }), /ACCESS_PORT/);
  assert.throws(() => loadConfig({ DB_PROXY_ADDRS: 'h:0' }), /DB_PROXY_ADDRS/);
  assert.ok(Object.isFrozen(loadConfig({})));
  assert.equal(loadConfig({ ACCESS_PORT: '8100' }).serverId, '127.0.0.1:8100');
});

test('an answer flagged "outcome unknown" (0x4000) rejects with IM_ERR_OUTCOME_UNKNOWN, not a msg id 0 refusal', async (t) => {
  const fake = await fakeDbProxy((pdu) => {
    const m = decodeBody(Cid.CID_MSG_DATA, pdu.body);
    return encodePdu({ commandId: Cid.CID_MSG_DATA, seqNum: pdu.header.seqNum, flag: ANSWER_FLAG_OUTCOME_UNKNOWN }, encodeBody(Cid.CID_MSG_DATA, { ...m, msgId: 0 }));
  });
  const db = links(fake.port);
  t.after(() => (db.destroy(), fake.close()));
  await db.whenReady(2000);
  const msg = { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 1, msgType: 1, msgData: Buffer.from('x') };
  await assert.rejects(db.request(Cid.CID_MSG_DATA, msg, '1:2', 1), (e) => isImError(e, 'IM_ERR_OUTCOME_UNKNOWN'));
});
