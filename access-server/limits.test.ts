import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cid } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';
import type { IM } from '../proto/messages.ts';
import type { RunningAccessServer } from './access-server.ts';
import { PC, startAccessFixture, whenClosed, type AccessFixture } from '../test/helpers/access-server.ts';

let fx: AccessFixture;
let server: RunningAccessServer;
let quick: RunningAccessServer;

before(async () => {
  fx = await startAccessFixture();
  server = await fx.startServer({ ACCESS_MSG_BYTES_PER_SEC: '1024', ACCESS_MSG_BYTES_BURST: '10000' });
  quick = await fx.startServer({ ACCESS_PC_TIMEOUT_MS: '600' });
  await fx.seedUsers(3);
});
after(() => fx.close());

test('before login a frame over the small pre-login cap closes the connection at its header', async () => {
  const c = await fx.connect(server);
  const closed = whenClosed(c, 3000);
  // Only the header of a 64 KiB frame: the old cap (1 MiB) buffered it and waited for the body.
  c.sendRaw(encodePdu({ commandId: Cid.CID_LOGIN_REQ_USERLOGIN }, Buffer.alloc(64 * 1024)).subarray(0, 16));
  await closed;
});

test('after login the full frame cap applies', async () => {
  const c = await fx.login(server, 1, PC);
  const res = await c.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 0, msgType: 1, msgData: Buffer.alloc(3000, 97) });
  assert.ok((res.message as IM.Message.IMMsgDataAck).msgId > 0);
});

test('a peer trickling bytes does not reset the silence timer: only whole frames do', async () => {
  const c = await fx.login(quick, 2, PC);
  const closed = whenClosed(c, 4000);
  const frame = encodePdu({ commandId: Cid.CID_MSG_DATA }, Buffer.alloc(2000));
  let i = 0;
  const trickle = setInterval(() => c.sendRaw(frame.subarray(i, ++i)), 50);
  try {
    await closed; // silent (no whole frame) for 600 ms, though a byte came every 50 ms
  } finally {
    clearInterval(trickle);
  }
  assert.ok(i < frame.length);
});

test('chat bytes over the per-connection byte rate are refused, not stored', async () => {
  const c = await fx.login(server, 3, PC);
  const big = Buffer.alloc(3000, 98);
  const acks: number[] = [];
  for (let n = 0; n < 6; n++) {
    const res = await c.request(Cid.CID_MSG_DATA, { fromUserId: 3, toSessionId: 1, msgId: 0, createTime: 0, msgType: 1, msgData: big });
    acks.push((res.message as IM.Message.IMMsgDataAck).msgId);
  }
  // 10,000 bytes of budget (refilled at 1 KiB/s): three 3,000-byte messages pass, the rest are refused.
  assert.equal(acks.filter((id) => id > 0).length, 3);
  assert.deepEqual(acks.slice(3), [0, 0, 0]);
});


