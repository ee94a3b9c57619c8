import { isUtf8 } from 'node:buffer';

/**
 * Characters the content column holds: `varchar(4096)` in utf8mb4
 * (schema/shards/IMMessage.sql, IMGroupMessage.sql, as TeamTalk's). MariaDB
 * counts characters, not bytes, and refuses invalid UTF-8 in strict mode.
 */
export const MAX_TEXT_CHARS = 4096;
const MAX_UTF8_BYTES_PER_CHAR = 4;

/**
 * Why msg_data cannot be stored as text, or null when it can. Checked before
 * a msg id is handed out: a row the column would reject spends no id and
 * cannot fail (and so split) the group commit it would have joined.
 */
export function textProblem(msgData: Uint8Array): string | null {
  if (msgData.length > MAX_TEXT_CHARS * MAX_UTF8_BYTES_PER_CHAR) return `text over ${MAX_TEXT_CHARS} characters`;
  if (!isUtf8(msgData)) return 'text is not valid UTF-8';
  if (msgData.length > MAX_TEXT_CHARS && utf8Chars(msgData) > MAX_TEXT_CHARS) return `text over ${MAX_TEXT_CHARS} characters`;
  return null;
}

/** Characters of valid UTF-8: every byte that is not a continuation byte starts one. */
export function utf8Chars(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) if ((b[i]! & 0xc0) !== 0x80) n++;
  return n;
}
