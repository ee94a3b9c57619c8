import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import { decryptText, encryptText, TEAMTALK_TEXT_KEY, textKeyFromEnv } from './text-crypto.ts';

// Sealed with `openssl enc -aes-256-ecb -nopad` over the padded blocks, TeamTalk's key.
const GOLDEN: [string, string][] = [
  ['hello', 'nnZSBwfPCz60q69ddmfIJA=='],
  // Empty: one block holding only the length.
  ['', 'e5RnnlJkv4QGnGhkMwfvgA=='],
  // 13 bytes: no room for the length in the first block, so a second one.
  ['0123456789abc', 'TAzR6N1CfvlADH+XckBekQr+GZ43+2mMfQMFqTsGBjY='],
];

test('text is sealed as TeamTalk\'s clients seal it', () => {
  for (const [text, sealed] of GOLDEN) {
    assert.equal(encryptText(text).toString('ascii'), sealed);
    assert.equal(decryptText(Buffer.from(sealed, 'ascii')), text);
  }
});

test('every length round-trips, block boundaries included; other keys are kept apart', () => {
  const other = Buffer.alloc(32, 7);
  for (let n = 0; n <= 70; n++) {
    const text = '话'.repeat(n % 5) + 'x'.repeat(n);
    const sealed = encryptText(text);
    assert.equal(Buffer.from(sealed.toString('ascii'), 'base64').length % 16, 0);
    assert.equal(decryptText(sealed), text);
    assert.equal(decryptText(encryptText(text, other), other), text);
    assert.notEqual(decryptText(encryptText(text, other)), text);
  }
});

test('msg_data not in that form is not text of it', () => {
  // Plain text, base64 that is not whole blocks, not base64, and a block whose length field does not fit.
  for (const bad of ['', 'hello', 'aGVsbG8=', '!!!!', Buffer.alloc(16, 0xff).toString('base64')]) {
    assert.equal(decryptText(Buffer.from(bad)), null, bad);
  }
  assert.throws(() => encryptText('x', Buffer.alloc(16)), RangeError);
  assert.equal(TEAMTALK_TEXT_KEY.length, 32);
});

test('text sealed by TeamTalk\'s Android app (Java modified UTF-8) opens as the characters it means; a leading BOM is kept', () => {
  // U+1F600 as Java writes it: two 3-byte surrogates.
  const modified = Buffer.concat([Buffer.from('hi '), Buffer.from([0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80])]);
  assert.equal(decryptText(sealBytes(modified)), 'hi 😀');
  assert.equal(decryptText(encryptText('\ufeffbom')), '\ufeffbom');
  assert.equal(decryptText(encryptText('emoji 😀 ok')), 'emoji 😀 ok');
});

/** TeamTalk's sealing of raw bytes (what its Android app does with modified UTF-8). */
function sealBytes(plain: Buffer): Buffer {
  const remain = plain.length % 16;
  const blocks = Math.ceil(plain.length / 16) + (remain === 0 || remain > 12 ? 1 : 0);
  const padded = Buffer.alloc(blocks * 16);
  plain.copy(padded);
  padded.writeUInt32BE(plain.length, padded.length - 4);
  const c = createCipheriv('aes-256-ecb', TEAMTALK_TEXT_KEY, null).setAutoPadding(false);
  return Buffer.from(Buffer.concat([c.update(padded), c.final()]).toString('base64'), 'ascii');
}

test('IM_AES_KEY: TeamTalk\'s key when unset, 32 bytes taken as they are, any other length refused at start', () => {
  assert.deepEqual(textKeyFromEnv({}), TEAMTALK_TEXT_KEY);
  const key = 'abcdefghijklmnopqrstuvwxyz012345';
  assert.deepEqual(textKeyFromEnv({ IM_AES_KEY: key }), Buffer.from(key));
  assert.equal(decryptText(encryptText('hi', textKeyFromEnv({ IM_AES_KEY: key })), Buffer.from(key)), 'hi');
  for (const bad of ['short', `${key}6`, '话'.repeat(11)]) {
    assert.throws(() => textKeyFromEnv({ IM_AES_KEY: bad }), { code: 'IM_ERR_BAD_CONFIG' }, bad);
  }
});
