/**
 * A streaming multipart/form-data reader with no socket: `push(chunk)`
 * returns what the chunk completes. Memory is bounded: part data is handed
 * out as it arrives (views into the chunk), and only a partial delimiter or
 * a part's header block (at most maxHeaderBytes) is held between chunks.
 * Part headers are decoded as latin1, one character per byte: clients send
 * filenames in UTF-8 or, the Windows client, in the local code page, and
 * only their ASCII extension and size suffix matter here.
 */

/** Errors of the reader, with stable codes in the project's IM_ERR_* style (tests assert on the code). */
export const MultipartErrorCode = {
  /** The body does not follow multipart/form-data framing. */
  MALFORMED: 'IM_ERR_MULTIPART_MALFORMED',
  /** A part's headers, or the number of parts, exceed the reader's limits. */
  LIMIT: 'IM_ERR_MULTIPART_LIMIT',
} as const;

export type MultipartErrorCodeValue = (typeof MultipartErrorCode)[keyof typeof MultipartErrorCode];

export class MultipartError extends Error {
  readonly code: MultipartErrorCodeValue;

  constructor(code: MultipartErrorCodeValue, message: string) {
    super(message);
    this.name = 'MultipartError';
    this.code = code;
  }
}

export interface PartHeaders {
  /** A Content-Disposition header was present. */
  disposition: boolean;
  name?: string;
  /** The filename parameter as sent, one character per byte (a client may send a whole path). */
  filename?: string;
  contentType?: string;
}

export type MultipartEvent =
  | { kind: 'part'; headers: PartHeaders }
  | { kind: 'data'; data: Buffer }
  | { kind: 'partEnd' }
  /** The closing delimiter: nothing after it matters. */
  | { kind: 'end' };

export interface MultipartLimits {
  maxHeaderBytes: number;
  maxParts: number;
}

const DEFAULT_LIMITS: MultipartLimits = { maxHeaderBytes: 8 * 1024, maxParts: 16 };
const CRLF = Buffer.from('\r\n');
const HEADERS_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
/** Room for transport padding after a delimiter, before its CRLF. */
const MAX_PADDING = 256;

/** The boundary parameter of a multipart/form-data Content-Type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type = '', ...params] = splitParams(contentType);
  if (type.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  const boundary = paramsOf(params).get('boundary');
  return boundary && boundary.length <= 200 && !/[\r\n]/.test(boundary) ? boundary : undefined;
}

export class MultipartParser {
  private readonly delimiter: Buffer;
  private readonly limits: MultipartLimits;
  /** A virtual CRLF first, so the first boundary line matches like any delimiter. */
  private pending: Buffer = CRLF;
  private state: 'preamble' | 'boundary' | 'headers' | 'body' | 'done' = 'preamble';
  private parts = 0;

  constructor(boundary: string, limits: Partial<MultipartLimits> = {}) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True once the closing delimiter has been read. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** True when no boundary has been seen yet. */
  get inPreamble(): boolean {
    return this.state === 'preamble';
  }

  /** Throws MultipartError on malformed framing or a limit passed. */
  push(chunk: Buffer): MultipartEvent[] {
    const out: MultipartEvent[] = [];
    if (this.state === 'done') return out;
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = EMPTY;
    let pos = 0;
    const hold = (from: number): MultipartEvent[] => {
      this.pending = Buffer.from(buf.subarray(from));
      return out;
    };
    for (;;) {
      if (this.state === 'preamble' || this.state === 'body') {
        const at = buf.indexOf(this.delimiter, pos);
        if (at === -1) {
          const keep = Math.max(pos, buf.length - (this.delimiter.length - 1));
          if (this.state === 'body' && keep > pos) out.push({ kind: 'data', data: buf.subarray(pos, keep) });
          return hold(keep);
        }
        if (this.state === 'body') {
          if (at > pos) out.push({ kind: 'data', data: buf.subarray(pos, at) });
          out.push({ kind: 'partEnd' });
        }
        pos = at + this.delimiter.length;
        this.state = 'boundary';
      } else if (this.state === 'boundary') {
        if (buf.length - pos < 2) return hold(pos);
        if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) {
          this.state = 'done';
          out.push({ kind: 'end' });
          return out;
        }
        const eol = buf.indexOf(CRLF, pos);
        if (eol === -1) {
          if (buf.length - pos > MAX_PADDING) throw malformed('a delimiter is not followed by CRLF');
          return hold(pos);
        }
        if (!/^[ \t]*$/.test(buf.toString('latin1', pos, eol))) throw malformed('a delimiter is followed by other bytes');
        if (++this.parts > this.limits.maxParts) throw limit(`more than ${this.limits.maxParts} parts`);
        pos = eol + 2;
        this.state = 'headers';
      } else if (this.state === 'headers') {
        if (buf.length - pos < 2) return hold(pos);
        const empty = buf[pos] === 0x0d && buf[pos + 1] === 0x0a;
        const end = empty ? pos : buf.indexOf(HEADERS_END, pos);
        const blockEnd = end === -1 ? buf.length : end;
        if (blockEnd - pos > this.limits.maxHeaderBytes) throw limit(`part headers over ${this.limits.maxHeaderBytes} bytes`);
        if (end === -1) return hold(pos);
        out.push({ kind: 'part', headers: parsePartHeaders(buf.toString('latin1', pos, end)) });
        pos = empty ? pos + 2 : end + 4;
        this.state = 'body';
      } else {
        return out;
      }
    }
  }
}

function malformed(message: string): MultipartError {
  return new MultipartError(MultipartErrorCode.MALFORMED, message);
}

function limit(message: string): MultipartError {
  return new MultipartError(MultipartErrorCode.LIMIT, message);
}

function parsePartHeaders(block: string): PartHeaders {
  const headers: PartHeaders = { disposition: false };
  if (block === '') return headers;
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('a part header line has no name');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-disposition') {
      const [, ...params] = splitParams(value);
      const p = paramsOf(params);
      headers.disposition = true;
      headers.name = p.get('name');
      headers.filename = p.get('filename');
    } else if (name === 'content-type') {
      headers.contentType = value;
    }
  }
  return headers;
}

/** Splits `a; b="x;y"; c` at the semicolons outside quotes. */
function splitParams(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '"') quoted = !quoted;
    else if (value[i] === ';' && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

/**
 * `key=value` pairs, keys lower-cased; a quoted value ends at the next quote
 * (browsers and TeamTalk's clients do not escape inside it, and Windows
 * paths carry backslashes).
 */
function paramsOf(params: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq <= 0) continue;
    const key = param.slice(0, eq).trim().toLowerCase();
    let value = param.slice(eq + 1).trim();
    if (value.startsWith('"')) {
      const close = value.indexOf('"', 1);
      value = close === -1 ? value.slice(1) : value.slice(1, close);
    }
    if (!map.has(key)) map.set(key, value);
  }
  return map;
}
