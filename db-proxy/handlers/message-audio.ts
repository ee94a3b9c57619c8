import { createCipheriv } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import { ErrorCode, ImError } from '../../common/errors.ts';
import type { Row } from './message-insert.ts';
import type { HandlerContext } from './types.ts';

/**
 * Voice messages (MsgType 0x02 single, 0x12 group). On the wire msg_data is
 * a 4-byte big-endian duration in seconds followed by the encoded audio.
 * Stored like TeamTalk: an IMAudio row (fromId, toId: user or group, path,
 * size: audio bytes without the header, duration, created) whose id, in
 * decimal, is the message row's content. The audio itself goes into
 * IMAudio.data (TeamTalk put it on a file server and kept the URL in path).
 */
export const AUDIO_TYPES: ReadonlySet<number> = new Set([0x02, 0x12]);
export const AUDIO_HEADER_BYTES = 4;
/** Largest audio after the header: what TeamTalk's file server takes per file. */
export const MAX_AUDIO_BYTES = 5 * 1024 * 1024;
/** Audio bytes per INSERT: mysql2 sends them hex-escaped (twice the size) within max_allowed_packet. */
const STATEMENT_AUDIO_BYTES = 4 * 1024 * 1024;

export const isAudio = (type: number): boolean => AUDIO_TYPES.has(type);

/** Why msg_data cannot be a voice message, or null when it can. */
export function audioProblem(msgData: Uint8Array): string | null {
  if (msgData.length <= AUDIO_HEADER_BYTES) return 'shorter than the duration header plus one byte';
  if (msgData.length - AUDIO_HEADER_BYTES > MAX_AUDIO_BYTES) return `audio over ${MAX_AUDIO_BYTES} bytes`;
  return null;
}

/**
 * Stores the audio of the voice rows among `rows` in IMAudio (one multi-row
 * INSERT per batch, split only to stay under the packet size) and sets each
 * such row's content to its IMAudio id. Malformed voice data never gets
 * here (the CID_MSG_DATA handler refuses it with `audioProblem` before msg
 * ids are handed out); rows whose IMAudio insert fails are removed from
 * `rows`, so they are neither inserted nor counted and their senders get
 * msg_id 0.
 */
export async function storeAudio(ctx: HandlerContext, rows: Row[]): Promise<void> {
  const voice = rows.filter((r) => isAudio(r.type));
  if (voice.length === 0) return;
  const failed = new Set<Row>();
  const chunks: Row[][] = [];
  let bytes = Infinity;
  for (const r of voice) {
    if (bytes + r.content.length > STATEMENT_AUDIO_BYTES) {
      chunks.push([]);
      bytes = 0;
    }
    chunks.at(-1)!.push(r);
    bytes += r.content.length;
  }
  const pool = ctx.mysql.main;
  await Promise.all(
    chunks.map(async (list) => {
      try {
        const ids = await insertAudio(ctx, pool, list);
        list.forEach((r, i) => (r.content = Buffer.from(String(ids[i]), 'latin1')));
      } catch (err) {
        ctx.log.warn({ err, rows: list.length }, 'voice messages not stored');
        for (const r of list) failed.add(r);
      }
    }),
  );
  if (failed.size > 0) rows.splice(0, rows.length, ...rows.filter((r) => !failed.has(r)));
}

/**
 * Inserts IMAudio rows and returns their ids in row order. Consecutive ids
 * from insertId hold only with innodb_autoinc_lock_mode 0 or 1 and
 * auto_increment_increment 1 (Galera, for one, runs mode 2 with a larger
 * step), so the ids are read back: INSERT ... RETURNING where the server has
 * it (MariaDB 10.5+; it answers the rows in VALUES order), else one INSERT
 * per row, each with its own insertId.
 */
async function insertAudio(ctx: HandlerContext, pool: Pool, list: readonly Row[]): Promise<number[]> {
  const values = (rs: readonly Row[]): unknown[] =>
    rs.flatMap((r) => {
      const audio = r.content.subarray(AUDIO_HEADER_BYTES);
      return [r.fromId, r.toId, '', audio.length, r.content.readUInt32BE(0), r.created, audio];
    });
  const sql = (n: number): string =>
    `INSERT INTO IMAudio (fromId, toId, path, size, duration, created, data) VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
  if (await hasReturning(ctx, pool)) {
    const out = await ctx.mysql.query<{ id: number }[]>(pool, `${sql(list.length)} RETURNING id`, values(list));
    if (out.length !== list.length) throw new ImError(ErrorCode.STORAGE, `IMAudio returned ${out.length} ids for ${list.length} rows`);
    return out.map((r) => Number(r.id));
  }
  return Promise.all(list.map(async (r) => (await ctx.mysql.query<{ insertId: number }>(pool, sql(1), values([r]))).insertId));
}

const returning = new WeakMap<Pool, Promise<boolean>>();

function hasReturning(ctx: HandlerContext, pool: Pool): Promise<boolean> {
  let known = returning.get(pool);
  if (!known) {
    known = ctx.mysql.query<{ v: string }[]>(pool, 'SELECT VERSION() AS v').then((r) => insertReturning(String(r[0]?.v ?? '')));
    returning.set(pool, known);
    known.catch(() => returning.delete(pool)); // ask again next time
  }
  return known;
}

/** Whether a server of this VERSION() has INSERT ... RETURNING (MariaDB 10.5 and later). */
export function insertReturning(version: string): boolean {
  const m = /^(\d+)\.(\d+)\./.exec(version);
  if (!m || !/mariadb/i.test(version)) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 10 || (major === 10 && minor >= 5);
}

/** A stored message as read back: its type and its content column. */
export interface StoredMsg {
  type: number;
  content: Buffer | string | null;
}

/** The IMAudio id a voice message's content names, or null when it holds something else. */
function audioIdOf(content: Buffer | string | null): number | null {
  if (content === null) return null;
  const s = typeof content === 'string' ? content : content.toString('latin1');
  if (!/^[1-9]\d{0,9}$/.test(s)) return null;
  const id = Number(s);
  return id <= 0x7fffffff ? id : null;
}

/**
 * Turns the content of voice messages among `msgs` back into msg_data
 * (duration header + audio), in place, with one IMAudio query; returns
 * `msgs`. Content that is not an IMAudio id is taken to be msg_data already
 * and left alone. Rows TeamTalk wrote have a path on its file server and no
 * data: without that server, the best we can answer is the duration with no
 * audio after it, which clients show as a voice message they cannot play; an
 * id with no IMAudio row at all answers a zero duration the same way.
 */
export async function expandAudio<T extends StoredMsg>(ctx: HandlerContext, msgs: T[]): Promise<T[]> {
  const wanted = new Map<number, StoredMsg[]>();
  for (const m of msgs) {
    if (!isAudio(m.type)) continue;
    const id = audioIdOf(m.content);
    if (id === null) continue;
    let list = wanted.get(id);
    if (!list) wanted.set(id, (list = []));
    list.push(m);
  }
  if (wanted.size === 0) return msgs;
  const ids = [...wanted.keys()];
  const rows = await ctx.mysql.query<{ id: number; duration: number; data: Buffer | null }[]>(
    ctx.mysql.main,
    `SELECT id, duration, data FROM IMAudio WHERE id IN (${ids.map(() => '?').join(', ')})`,
    ids,
  );
  const found = new Map(rows.map((r) => [Number(r.id), r]));
  for (const [id, list] of wanted) {
    const a = found.get(id);
    const header = Buffer.alloc(AUDIO_HEADER_BYTES);
    header.writeUInt32BE(Number(a?.duration ?? 0) >>> 0);
    const data = a?.data ? Buffer.concat([header, a.data]) : header;
    for (const m of list) m.content = data;
  }
  return msgs;
}

/**
 * The text "[语音]" encrypted the way clients encrypt message text
 * (AES-256-ECB over a zero-padded buffer whose last 4 bytes carry the plain
 * length, big-endian; then base64), with the key TeamTalk's server and
 * clients ship with. TeamTalk shows it as the latest message of a session
 * (recent sessions, unread counts) when that message is a voice message.
 */
export function audioPreview(key = '12345678901234567890123456789012'): Buffer {
  const plain = Buffer.from('[语音]', 'utf8');
  const rem = plain.length % 16;
  const blocks = Math.ceil(plain.length / 16) + (rem === 0 || rem > 12 ? 1 : 0);
  const buf = Buffer.alloc(blocks * 16);
  plain.copy(buf);
  buf.writeUInt32BE(plain.length, buf.length - 4);
  const cipher = createCipheriv('aes-256-ecb', Buffer.from(key, 'latin1'), null).setAutoPadding(false);
  return Buffer.from(Buffer.concat([cipher.update(buf), cipher.final()]).toString('base64'), 'latin1');
}
const AUDIO_PREVIEW = audioPreview();

/** latest_msg_data of a session preview: the "[语音]" text for voice, else the content as stored. */
export function previewData(type: number, content: Buffer | string | null): Buffer {
  if (isAudio(type)) return AUDIO_PREVIEW;
  if (content === null) return Buffer.alloc(0);
  return typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
}
