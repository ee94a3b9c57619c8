/**
 * The message-text encryption of TeamTalk's clients (their libsecurity
 * EncryptMsg / DecryptMsg), so that our sessions and TeamTalk's apps read
 * each other's messages:
 *
 * - the text's UTF-8 bytes, zero-padded to whole 16-byte blocks with room
 *   for a 4-byte big-endian length in the last four bytes of the last block
 *   (one more block when fewer than four bytes are left, or none);
 * - AES-256-ECB over the blocks, no other padding;
 * - standard base64 of the result: that ASCII text is msg_data.
 *
 * TeamTalk's clients all use one fixed 32-byte key; a deployment that built
 * its clients with another sets IM_AES_KEY (textKeyFromEnv) on every process
 * that reads or writes text: access servers (push previews) and the CLI. This is obfuscation between the
 * clients and the server, not end-to-end secrecy: every holder of the key
 * (every client binary) can read every message.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { rawFromEnv, type Env } from '../common/config.ts';
import { ErrorCode, ImError } from '../common/errors.ts';

/** The key TeamTalk's Android, iOS, Windows and Mac clients are built with. */
export const TEAMTALK_TEXT_KEY: Buffer = Buffer.from('12345678901234567890123456789012', 'latin1');

const BLOCK = 16;
const LENGTH_BYTES = 4;

/**
 * IM_AES_KEY: the 32 characters of the clients' key (TeamTalk's default when
 * unset). A key of another length would fail every message, so it fails at
 * start-up instead.
 */
export function textKeyFromEnv(env: Env): Buffer {
  const raw = rawFromEnv(env, 'IM_AES_KEY');
  if (raw === undefined) return TEAMTALK_TEXT_KEY;
  const key = Buffer.from(raw, 'utf8');
  if (key.length !== 32) throw new ImError(ErrorCode.BAD_CONFIG, `IM_AES_KEY must be 32 bytes (AES-256), got ${key.length}`);
  return key;
}

function checkKey(key: Buffer): void {
  if (key.length !== 32) throw new RangeError(`text key must be 32 bytes (AES-256), got ${key.length}`);
}

/** msg_data as a TeamTalk client sends it: base64 ASCII bytes. */
export function encryptText(text: string, key: Buffer = TEAMTALK_TEXT_KEY): Buffer {
  checkKey(key);
  const plain = Buffer.from(text, 'utf8');
  const remain = plain.length % BLOCK;
  const blocks = Math.ceil(plain.length / BLOCK) + (remain === 0 || remain > BLOCK - LENGTH_BYTES ? 1 : 0);
  const padded = Buffer.alloc(blocks * BLOCK);
  plain.copy(padded);
  padded.writeUInt32BE(plain.length, padded.length - LENGTH_BYTES);
  const cipher = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
  const sealed = Buffer.concat([cipher.update(padded), cipher.final()]);
  return Buffer.from(sealed.toString('base64'), 'ascii');
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The text of msg_data in TeamTalk's form, or null when it is not in that
 * form: not base64, not whole blocks, a length field that does not fit, or
 * padding that is not zeros. Text in Java's modified UTF-8 (TeamTalk's
 * Android app) is read as the characters it means.
 */
export function decryptText(data: Uint8Array, key: Buffer = TEAMTALK_TEXT_KEY): string | null {
  checkKey(key);
  const ascii = Buffer.from(data).toString('latin1');
  if (ascii.length === 0 || ascii.length % 4 !== 0 || !BASE64.test(ascii)) return null;
  const sealed = Buffer.from(ascii, 'base64');
  if (sealed.length === 0 || sealed.length % BLOCK !== 0) return null;
  const decipher = createDecipheriv('aes-256-ecb', key, null).setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(sealed), decipher.final()]);
  const length = padded.readUInt32BE(padded.length - LENGTH_BYTES);
  if (length > padded.length - LENGTH_BYTES) return null;
  const plain = padded.subarray(0, length);
  // The padding between the text and the length is zeros in every message a TeamTalk client writes.
  for (let i = length; i < padded.length - LENGTH_BYTES; i++) if (padded[i] !== 0) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(plain);
  } catch {
    // TeamTalk's Android app seals Java's "modified UTF-8" (characters beyond the BMP as two
    // 3-byte surrogates, NUL as C0 80); the blocks and the length already proved the form.
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(fromModifiedUtf8(plain));
  }
}

/** Standard UTF-8 for Java's modified UTF-8: surrogate pairs joined, C0 80 back to NUL. */
function fromModifiedUtf8(b: Uint8Array): Buffer {
  const out: number[] = [];
  const unit = (i: number): number => ((b[i]! & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0xed && i + 5 < b.length && (b[i + 1]! & 0xf0) === 0xa0 && b[i + 3] === 0xed && (b[i + 4]! & 0xf0) === 0xb0) {
      const cp = 0x10000 + ((unit(i) - 0xd800) << 10) + (unit(i + 3) - 0xdc00);
      for (const x of Buffer.from(String.fromCodePoint(cp), 'utf8')) out.push(x);
      i += 5;
    } else if (b[i] === 0xc0 && b[i + 1] === 0x80) {
      out.push(0);
      i += 1;
    } else {
      out.push(b[i]!);
    }
  }
  return Buffer.from(out);
}
