/**
 * Test helpers (not a test file): a real msfs on 127.0.0.1 port 0 over a
 * throw-away root, a raw HTTP/1.1 client that sends exactly the bytes it is
 * given (TeamTalk's clients are checked byte for byte), and looks at what
 * is on disk.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from './config.ts';
import { startMsfs, type RunningMsfs } from './server.ts';

export interface TestMsfs {
  msfs: RunningMsfs;
  root: string;
  port: number;
  /** `http://127.0.0.1:<port>/`: what route-server would announce as msfsPrior. */
  url: string;
}

interface Hooks {
  after(fn: () => Promise<void> | void): void;
}

export async function makeRoot(t: Hooks): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'msfs-test-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** Starts msfs with `env` over `root` (a new temporary one when not given); closed and removed after the test. */
export async function startTestMsfs(t: Hooks, env: Record<string, string> = {}, root?: string): Promise<TestMsfs> {
  const dir = root ?? (await makeRoot(t));
  const config = loadConfig({ MSFS_HOST: '127.0.0.1', MSFS_PORT: '0', MSFS_ROOT: dir, ...env });
  const msfs = await startMsfs(config, pino({ level: 'silent' }));
  t.after(() => msfs.close());
  return { msfs, root: dir, port: msfs.address.port, url: msfs.publicUrl };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Interim responses seen first (100 Continue). */
  interim: number[];
}

/** Splits one response off `buf`; undefined until it is complete (Content-Length framed; none for HEAD). */
export function parseResponse(buf: Buffer, head = false): { response: RawResponse; rest: Buffer } | undefined {
  const interim: number[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end === -1) return undefined;
    const [statusLine = '', ...lines] = buf.toString('latin1', at, end).split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    if (status >= 100 && status < 200) {
      interim.push(status);
      at = end + 4;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = head ? 0 : Number(headers['content-length'] ?? 0);
    if (buf.length < end + 4 + length) return undefined;
    const body = buf.subarray(end + 4, end + 4 + length);
    return { response: { status, headers, body, interim }, rest: buf.subarray(end + 4 + length) };
  }
}

/** A raw connection: write bytes, read whole responses, see it closed. */
export class RawConn {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(port: number, localAddress?: string) {
    this.socket = net.connect({ host: '127.0.0.1', port, localAddress });
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('close', () => reject(new Error('closed before connecting')));
    });
  }

  write(bytes: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Resolves once `ready()` is true or the socket is closed; checked on every read. */
  private async until(ready: () => boolean): Promise<void> {
    while (!ready() && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Until the text arrives (an interim response, say); false if the connection closed first. */
  async sees(text: string): Promise<boolean> {
    await this.until(() => this.buf.includes(text));
    return this.buf.includes(text);
  }

  /** The next whole response (to a HEAD when `head`); undefined if the connection closed before one came. */
  async response(head = false): Promise<RawResponse | undefined> {
    await this.until(() => parseResponse(this.buf, head) !== undefined);
    const parsed = parseResponse(this.buf, head);
    if (!parsed) return undefined;
    this.buf = Buffer.from(parsed.rest);
    return parsed.response;
  }

  whenClosed(): Promise<void> {
    return this.until(() => false);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Sends `request` on a new connection, returns the first answer, closes. */
export async function exchange(port: number, request: Buffer): Promise<RawResponse> {
  const conn = new RawConn(port);
  try {
    await conn.write(request);
    const res = await conn.response(request.subarray(0, 5).toString() === 'HEAD ');
    if (!res) throw new Error('connection closed without an answer');
    return res;
  } finally {
    conn.destroy();
  }
}

/** Every file under root: published ones as `ddd/ddd/name`, unfinished ones as `.tmp/name`. */
export async function filesIn(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(path);
      else out.push(path);
    }
  };
  await walk('');
  return out.sort();
}

/** Polls `cond` every 10 ms, up to `ms`; throws naming `what` if it never holds. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
