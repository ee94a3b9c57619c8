import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PduClient } from '../proto/client.ts';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import type { RunningAccessServer } from './access-server.ts';
import { nextPush, PC, startAccessFixture, waitFor, type AccessFixture } from '../test/helpers/access-server.ts';

let fx: AccessFixture;
let server: RunningAccessServer;

before(async () => {
  fx = await startAccessFixture();
  // A high byte rate: this file is about readers that do not read, not about senders over their budget.
  server = await fx.startServer({ ACCESS_MAX_OUTBOUND_BYTES: '262144', ACCESS_DRAIN_TIMEOUT_MS: '300', ACCESS_MSG_BYTES_PER_SEC: '1000000000' });
  await fx.seedUsers(4);
});
after(() => fx.close());

/** Stops reading the client's socket: the server's writes pile up. */
function stopReading(client: PduClient): void {
  client.pauseReading();
}

test('a client that never reads is disconnected; the sender and others are unharmed', async () => {
  const sender = await fx.login(server, 1, PC);
  const slow = await fx.login(server, 2, PC);
  const other = await fx.login(server, 3, PC);
  stopReading(slow);
  const cmd = 'x'.repeat(4000);
  for (let i = 0; i < 4000 && server.sessions.conns(2).length > 0; i++) {
    sender.send(Cid.CID_SWITCH_P2P_CMD, { fromUserId: 1, toUserId: 2, cmdMsgData: cmd });
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
  }
  await waitFor(() => server.sessions.conns(2).length === 0, 5000, 'slow reader dropped');
  const atOther = nextPush(other, Cid.CID_MSG_DATA);
  const res = await sender.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 3, msgId: 0, createTime: 0, msgType: 1, msgData: Buffer.from('still here') });
  const msgId = (res.message as IM.Message.IMMsgDataAck).msgId;
  assert.ok(msgId > 0);
  assert.equal(((await atOther).message as IM.Message.IMMsgData).msgId, msgId);
  assert.equal(server.sessions.conns(1).length, 1);
});

test('p2p commands reach the peer with from_user_id forced to the sender', async () => {
  const a = await fx.login(server, 4, PC);
  const b = await fx.login(server, 3, PC);
  const got = nextPush(b, Cid.CID_SWITCH_P2P_CMD);
  a.send(Cid.CID_SWITCH_P2P_CMD, { fromUserId: 99, toUserId: 3, cmdMsgData: 'typing' });
  const m = (await got).message as IM.SwitchService.IMP2PCmdMsg;
  assert.deepEqual({ from: m.fromUserId, to: m.toUserId, data: m.cmdMsgData }, { from: 4, to: 3, data: 'typing' });
});

test('close() answers what is in flight and closes every client', async () => {
  const s = await fx.startServer();
  const a = await fx.login(s, 1, PC);
  const pending = a.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 0, msgType: 1, msgData: Buffer.from('last') });
  let answered = false;
  void pending.then(() => (answered = true), () => {});
  const conn = s.sessions.conns(1)[0]!;
  while (!answered && conn.pending === 0) await new Promise((r) => setImmediate(r));
  const closing = s.close();
  const ack = (await pending).message as IM.Message.IMMsgDataAck;
  assert.ok(ack.msgId > 0);
  await closing;
  assert.equal(s.server.size, 0);
});
