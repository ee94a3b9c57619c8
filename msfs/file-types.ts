/**
 * The kinds of file msfs stores: how each is named, served and recognised by
 * its first bytes. TeamTalk's msfs trusts the filename's extension alone; we
 * also read the content. Clients name images loosely (Android sends PNG bytes
 * under the photo's .jpg name, the Mac client JPEG bytes as image.png), so an
 * image stays an image under the kind its bytes say; anything else must be
 * what its extension claims.
 */
export interface FileKind {
  /** The extension stored files get. */
  ext: string;
  /** Extensions a client may name it by (lower case). */
  aliases: readonly string[];
  contentType: string;
  family: 'image' | 'audio';
  /** True when `head` (the first SNIFF_BYTES or fewer) starts like this kind. */
  sniff(head: Buffer): boolean;
  /** The bytes a complete file ends with, when the format has such an end. */
  end?: Buffer;
}

/** How many leading bytes recognition needs. */
export const SNIFF_BYTES = 12;

const startsWith = (head: Buffer, bytes: readonly number[] | string, at = 0): boolean => {
  const want = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
  return head.length >= at + want.length && head.subarray(at, at + want.length).equals(want);
};

const KINDS: readonly FileKind[] = [
  {
    ext: 'jpg',
    aliases: ['jpg', 'jpeg', 'jpe'],
    contentType: 'image/jpeg',
    family: 'image',
    sniff: (h) => startsWith(h, [0xff, 0xd8, 0xff]),
    end: Buffer.from([0xff, 0xd9]),
  },
  {
    ext: 'png',
    aliases: ['png'],
    contentType: 'image/png',
    family: 'image',
    sniff: (h) => startsWith(h, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    // the IEND chunk: zero length, type, CRC
    end: Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]),
  },
  {
    ext: 'gif',
    aliases: ['gif'],
    contentType: 'image/gif',
    family: 'image',
    sniff: (h) => startsWith(h, 'GIF87a') || startsWith(h, 'GIF89a'),
    end: Buffer.from([0x3b]),
  },
  {
    ext: 'webp',
    aliases: ['webp'],
    contentType: 'image/webp',
    family: 'image',
    sniff: (h) => startsWith(h, 'RIFF') && startsWith(h, 'WEBP', 8),
  },
  {
    ext: 'bmp',
    aliases: ['bmp'],
    contentType: 'image/bmp',
    family: 'image',
    // 'BM' alone starts too many things: also the four reserved bytes, zero in every BMP writer
    sniff: (h) => startsWith(h, 'BM') && startsWith(h, [0, 0, 0, 0], 6),
  },
  { ext: 'amr', aliases: ['amr'], contentType: 'audio/amr', family: 'audio', sniff: (h) => startsWith(h, '#!AMR') },
  {
    ext: 'mp3',
    aliases: ['mp3'],
    contentType: 'audio/mpeg',
    family: 'audio',
    sniff: (h) => startsWith(h, 'ID3') || (h.length >= 2 && h[0] === 0xff && ((h[1] ?? 0) & 0xe0) === 0xe0),
  },
  { ext: 'spx', aliases: ['spx', 'ogg'], contentType: 'audio/ogg', family: 'audio', sniff: (h) => startsWith(h, 'OggS') },
];

/** The kind a client's extension names (any case, without the dot), if we know it. */
export function kindByExtension(ext: string): FileKind | undefined {
  const lower = ext.toLowerCase();
  return KINDS.find((k) => k.aliases.includes(lower));
}

/** The kind the first bytes say, if any. */
export function sniffKind(head: Buffer): FileKind | undefined {
  return KINDS.find((k) => k.sniff(head));
}

/**
 * The kind to store a file as, from the extension the client gave and the
 * file's first bytes; undefined when refused: the extension is not an
 * allowed kind, or the bytes are not of its family (an image must be an
 * allowed image, anything else exactly what its extension says).
 */
export function resolveKind(claimedExt: string, head: Buffer, allowed: ReadonlyMap<string, FileKind>): FileKind | undefined {
  const claimed = kindByExtension(claimedExt);
  if (!claimed || !allowed.has(claimed.ext)) return undefined;
  const actual = sniffKind(head);
  if (!actual || !allowed.has(actual.ext)) return undefined;
  if (claimed.family === 'image') return actual.family === 'image' ? actual : undefined;
  return actual === claimed ? actual : undefined;
}

/**
 * True when `tail` (a file's last bytes) is the kind's end marker followed
 * by CRLF. TeamTalk's Android client writes a CRLF of its own after the file
 * and then the CRLF that begins the closing delimiter; the first one is not
 * part of the image and is dropped.
 */
export function endsWithStrayCrlf(kind: FileKind, tail: Buffer): boolean {
  if (!kind.end || tail.length < kind.end.length + 2) return false;
  const n = tail.length;
  return tail[n - 2] === 0x0d && tail[n - 1] === 0x0a && tail.subarray(n - 2 - kind.end.length, n - 2).equals(kind.end);
}

/** The Content-Type for a stored file's extension; octet-stream for a name we do not know. */
export function contentTypeOf(ext: string): string {
  return kindByExtension(ext)?.contentType ?? 'application/octet-stream';
}
