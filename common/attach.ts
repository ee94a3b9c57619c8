/**
 * attach_data (field 20 of every server-to-server request) as our access
 * servers fill it. db-proxy echoes attach_data byte for byte, so whatever a
 * request carries here comes back in its answer.
 *
 * Layout, 40 bytes, big-endian:
 *   0  u32 type         1 = connection handle (TeamTalk's ATTACH_TYPE_HANDLE)
 *   4  u32 handle       the client connection id
 *   8  u32 service      0 (TeamTalk's service type; unused)
 *  12  u32 magic        0x54545831 ("TTX1"): the rest is ours
 *  16  u64 requestId    per-link request id, never reused on that link
 *  24  16 bytes source  the client's address, IPv6 (IPv4 mapped); zeros if unknown
 *
 * The first 12 bytes are exactly TeamTalk msg_server's attach_data, so a
 * TeamTalk peer reading it finds the handle where it expects. A blob that is
 * not 40 bytes with the magic (TeamTalk's own, or anything else) is opaque:
 * `parseAttach` returns null and it is echoed untouched.
 */
import net from 'node:net';

export const ATTACH_LENGTH = 40;
export const ATTACH_TYPE_HANDLE = 1;
const MAGIC = 0x54545831;

export interface Attach {
  connId: number;
  requestId: number;
  /** The client's address as text ('' when unknown). */
  source: string;
}

/** Builds our attach_data. `requestId` is a safe integer ≥ 0. */
export function buildAttach(connId: number, requestId: number, source = ''): Buffer {
  const b = Buffer.alloc(ATTACH_LENGTH);
  b.writeUInt32BE(ATTACH_TYPE_HANDLE, 0);
  b.writeUInt32BE(connId >>> 0, 4);
  b.writeUInt32BE(MAGIC, 12);
  b.writeUInt32BE(Math.floor(requestId / 0x1_0000_0000), 16);
  b.writeUInt32BE(requestId >>> 0, 20);
  writeAddress(b, 24, source);
  return b;
}

/** Our attach_data's fields, or null for any other blob. */
export function parseAttach(data: Uint8Array | null | undefined): Attach | null {
  if (!data || data.length !== ATTACH_LENGTH) return null;
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.readUInt32BE(0) !== ATTACH_TYPE_HANDLE || b.readUInt32BE(12) !== MAGIC) return null;
  const hi = b.readUInt32BE(16);
  if (hi > 0x1fffff) return null; // beyond 2^53: not an id we hand out
  return { connId: b.readUInt32BE(4), requestId: hi * 0x1_0000_0000 + b.readUInt32BE(20), source: readAddress(b, 24) };
}

/** Only the request id (answer correlation on the hot path); null for a foreign blob. */
export function attachRequestId(data: Uint8Array | null | undefined): number | null {
  return parseAttach(data)?.requestId ?? null;
}

function writeAddress(b: Buffer, at: number, source: string): void {
  const addr = source.startsWith('::ffff:') && net.isIPv4(source.slice(7)) ? source.slice(7) : source;
  if (net.isIPv4(addr)) {
    b.writeUInt16BE(0xffff, at + 10);
    addr.split('.').forEach((p, i) => b.writeUInt8(Number(p), at + 12 + i));
  } else if (net.isIPv6(addr)) {
    const groups = expandIPv6(addr);
    groups.forEach((g, i) => b.writeUInt16BE(g, at + i * 2));
  }
}

function readAddress(b: Buffer, at: number): string {
  const raw = b.subarray(at, at + 16);
  if (raw.every((x) => x === 0)) return '';
  const mapped = raw.subarray(0, 10).every((x) => x === 0) && raw.readUInt16BE(10) === 0xffff;
  if (mapped) return `${raw[12]}.${raw[13]}.${raw[14]}.${raw[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** The eight 16-bit groups of an IPv6 address (zone ids dropped). */
function expandIPv6(addr: string): number[] {
  const plain = addr.split('%')[0]!;
  const [head, tail] = plain.includes('::') ? plain.split('::') : [plain, undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16) || 0) : []);
  const h = parse(head);
  if (tail === undefined) return h.slice(0, 8);
  const t = parse(tail);
  return [...h, ...new Array<number>(Math.max(0, 8 - h.length - t.length)).fill(0), ...t].slice(0, 8);
}
