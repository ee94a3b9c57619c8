/**
 * Golden bytes worked out by hand from field numbers and wire types.
 * A tag byte is (field_number << 3) | wire_type; wire type 0 = varint,
 * 2 = length-delimited. Varints are little-endian groups of 7 bits with the
 * high bit set on every byte but the last.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cid, decodeBody, encodeBody } from './commands.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Decoded message as plain data (Buffers as hex) for comparison. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `hex:${toHex(v)}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

test('IM.Login.IMLoginReq', () => {
  const msg = { userName: 'alice', password: 'pw', onlineStatus: 1, clientType: 0x12, clientVersion: '1.0' };
  const expected = Buffer.concat([
    hex('0a 05 61 6c 69 63 65'), // field 1 user_name LEN (tag 1<<3|2 = 0x0a), 5 bytes "alice"
    hex('12 02 70 77'), //          field 2 password LEN (tag 0x12), 2 bytes "pw"
    hex('18 01'), //                field 3 online_status VARINT (tag 3<<3 = 0x18), USER_STATUS_ONLINE = 1
    hex('20 12'), //                field 4 client_type VARINT (tag 0x20), CLIENT_TYPE_ANDROID = 0x12
    hex('2a 03 31 2e 30'), //       field 5 client_version LEN (tag 0x2a), 3 bytes "1.0"
  ]);
  assert.equal(toHex(encodeBody(Cid.CID_LOGIN_REQ_USERLOGIN, msg)), toHex(expected));
  assert.deepEqual(plain(decodeBody(Cid.CID_LOGIN_REQ_USERLOGIN, expected)), msg);
});

test('IM.Message.IMMsgData with attach_data (field 20)', () => {
  const msg = {
    fromUserId: 1001, toSessionId: 1002, msgId: 300, createTime: 1_700_000_000,
    msgType: 1, msgData: Buffer.from('hi'), attachData: Buffer.from([0xde, 0xad]),
  };
  const expected = Buffer.concat([
    hex('08 e9 07'), //          field 1 from_user_id VARINT: 1001 = 0b111_1101001 -> 0x69|0x80, 0x07
    hex('10 ea 07'), //          field 2 to_session_id VARINT: 1002 -> 0x6a|0x80, 0x07
    hex('18 ac 02'), //          field 3 msg_id VARINT: 300 = 2*128 + 44 -> 0x2c|0x80, 0x02
    hex('20 80 e2 cf aa 06'), // field 4 create_time VARINT: 1700000000 = [0, 98, 79, 42, 6] in base 128
    hex('28 01'), //             field 5 msg_type VARINT: MSG_TYPE_SINGLE_TEXT = 1
    hex('32 02 68 69'), //       field 6 msg_data LEN (6<<3|2 = 0x32), 2 bytes "hi"
    hex('a2 01 02 de ad'), //    field 20 attach_data LEN: tag 20<<3|2 = 162 -> varint a2 01, 2 bytes
  ]);
  assert.equal(toHex(encodeBody(Cid.CID_MSG_DATA, msg)), toHex(expected));
  assert.deepEqual(plain(decodeBody(Cid.CID_MSG_DATA, expected)), plain(msg));
});

test('IM.Message.IMUnreadMsgCntRsp with one nested UnreadInfo', () => {
  const info = {
    sessionId: 8, sessionType: 1, unreadCnt: 3, latestMsgId: 42,
    latestMsgData: Buffer.from('yo'), latestMsgType: 1, latestMsgFromUserId: 8,
  };
  const msg = { userId: 7, totalCnt: 3, unreadinfoList: [info] };
  const nested = Buffer.concat([
    hex('08 08'), //        field 1 session_id = 8
    hex('10 01'), //        field 2 session_type = SESSION_TYPE_SINGLE
    hex('18 03'), //        field 3 unread_cnt = 3
    hex('20 2a'), //        field 4 latest_msg_id = 42
    hex('2a 02 79 6f'), //  field 5 latest_msg_data LEN, 2 bytes "yo"
    hex('30 01'), //        field 6 latest_msg_type = MSG_TYPE_SINGLE_TEXT
    hex('38 08'), //        field 7 latest_msg_from_user_id = 8
  ]);
  assert.equal(nested.length, 0x10);
  const expected = Buffer.concat([
    hex('08 07'), //        field 1 user_id = 7
    hex('10 03'), //        field 2 total_cnt = 3
    hex('1a 10'), //        field 3 unreadinfo_list LEN (3<<3|2 = 0x1a), 16 bytes of UnreadInfo
    nested,
  ]);
  assert.equal(toHex(encodeBody(Cid.CID_MSG_UNREAD_CNT_RESPONSE, msg)), toHex(expected));
  assert.deepEqual(plain(decodeBody(Cid.CID_MSG_UNREAD_CNT_RESPONSE, expected)), plain(msg));
});

test('repeated uint32 is written unpacked (proto2) and read in both forms', () => {
  const msg = { userId: 1, userIdList: [2, 300] };
  const unpacked = hex(`
    08 01
    10 02
    10 ac 02
  `); // field 1 = 1; then one VARINT record (tag 0x10) per element of field 2
  const packed = hex('08 01 12 03 02 ac 02'); // field 2 as one LEN record (tag 0x12), 3 bytes of varints
  assert.equal(toHex(encodeBody(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, msg)), toHex(unpacked));
  assert.deepEqual(plain(decodeBody(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, unpacked)), msg);
  assert.deepEqual(plain(decodeBody(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, packed)), msg);
});

test('IM.Other.IMHeartBeat is an empty body', () => {
  assert.equal(encodeBody(Cid.CID_OTHER_HEARTBEAT, {}).length, 0);
});
