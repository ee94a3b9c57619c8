import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ATTACH_LENGTH, attachRequestId, buildAttach, parseAttach } from './attach.ts';

test('attach_data round-trips connection, request id and source', () => {
  for (const [source, want] of [
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['', ''],
    ['2001:db8::1', '2001:db8:0:0:0:0:0:1'],
  ] as const) {
    const b = buildAttach(77, 2 ** 40 + 5, source);
    assert.equal(b.length, ATTACH_LENGTH);
    assert.deepEqual(parseAttach(b), { connId: 77, requestId: 2 ** 40 + 5, source: want });
  }
});

test('the first 12 bytes are TeamTalk msg_server attach_data (type 1, handle, service 0)', () => {
  const b = buildAttach(0xdeadbeef, 1);
  assert.equal(b.readUInt32BE(0), 1);
  assert.equal(b.readUInt32BE(4), 0xdeadbeef);
  assert.equal(b.readUInt32BE(8), 0);
});

test('foreign blobs are opaque', () => {
  const teamtalk = Buffer.alloc(12);
  teamtalk.writeUInt32BE(1, 0);
  assert.equal(parseAttach(teamtalk), null);
  assert.equal(parseAttach(Buffer.alloc(ATTACH_LENGTH)), null);
  assert.equal(attachRequestId(undefined), null);
  const bad = buildAttach(1, 1);
  bad.writeUInt32BE(0xffffffff, 16); // beyond 2^53
  assert.equal(parseAttach(bad), null);
});
