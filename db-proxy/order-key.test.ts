import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cid, encodeBody } from '../proto/commands.ts';
import { rng } from '../test/helpers/rng.ts';
import { orderKeyOf, orderKeysOf } from './order-key.ts';

const msg = (from: number, to: number, msgType: number, extra: object = {}) =>
  encodeBody(Cid.CID_MSG_DATA, { fromUserId: from, toSessionId: to, msgId: 7, createTime: 1_700_000_000, msgType, msgData: Buffer.from('hi'), ...extra });

test('one key per conversation: the sorted pair for 1:1, the group for group messages', () => {
  assert.equal(orderKeyOf(Cid.CID_MSG_DATA, msg(5, 3, 0x01)), '3:5');
  assert.equal(orderKeyOf(Cid.CID_MSG_DATA, msg(3, 5, 0x02)), '3:5');
  assert.equal(orderKeyOf(Cid.CID_MSG_DATA, msg(3, 900, 0x11)), 'g900');
  assert.equal(orderKeyOf(Cid.CID_MSG_DATA, msg(4, 900, 0x12, { attachData: Buffer.alloc(12) })), 'g900');
  assert.equal(orderKeyOf(Cid.CID_MSG_DATA, msg(2 ** 32 - 1, 1, 0x01)), `1:${2 ** 32 - 1}`);
});

test('other commands and bodies without the fields have no key', () => {
  assert.equal(orderKeyOf(Cid.CID_MSG_READ_ACK, msg(1, 2, 1)), null);
  assert.equal(orderKeyOf(Cid.CID_MSG_DATA, new Uint8Array(0)), null);
  assert.equal(orderKeyOf(Cid.CID_MSG_DATA, Buffer.from([0x08, 0x01])), null);
});

test('random bytes never throw', () => {
  const rand = rng(7);
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.alloc(Math.floor(rand() * 40));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
    const k = orderKeyOf(Cid.CID_MSG_DATA, b);
    assert.ok(k === null || /^(g\d+|\d+:\d+)$/.test(k), String(k));
  }
});

test('every conversation-keyed command shares the message key; unread and read acks share the user key', () => {
  const ack = (user: number, session: number, type: number) => encodeBody(Cid.CID_MSG_READ_ACK, { userId: user, sessionId: session, msgId: 9, sessionType: type });
  const list = (cid: number, user: number, session: number, type: number) =>
    encodeBody(cid, { userId: user, sessionType: type, sessionId: session, msgIdBegin: 0, msgCnt: 10, msgIdList: [1] });
  assert.deepEqual(orderKeysOf(Cid.CID_MSG_DATA, msg(5, 3, 0x01)), ['3:5', 'u3']);
  assert.deepEqual(orderKeysOf(Cid.CID_MSG_READ_ACK, ack(3, 5, 1)), ['3:5', 'u3']);
  assert.deepEqual(orderKeysOf(Cid.CID_MSG_READ_ACK, ack(3, 900, 2)), ['g900', 'u3']);
  for (const cid of [Cid.CID_MSG_LIST_REQUEST, Cid.CID_MSG_GET_LATEST_MSG_ID_REQ, Cid.CID_MSG_GET_BY_MSG_ID_REQ]) {
    assert.deepEqual(orderKeysOf(cid, list(cid, 5, 3, 1)), ['3:5']);
    assert.deepEqual(orderKeysOf(cid, list(cid, 5, 900, 2)), ['g900']);
  }
  assert.deepEqual(orderKeysOf(Cid.CID_MSG_UNREAD_CNT_REQUEST, encodeBody(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: 3 })), ['u3']);
  assert.deepEqual(orderKeysOf(Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, Buffer.from([0x08, 0x01])), []);
});
