import http2 from 'node:http2';
import type { Logger } from 'pino';
import type { HttpAnswer } from './types.ts';

export interface H2Options {
  /** Trusted CAs (PEM); undefined: Node's default roots. */
  ca: readonly string[] | undefined;
  /** A request with no whole answer in this long is cancelled (and the session retired). */
  timeoutMs: number;
}

/** Answers are small JSON errors; anything beyond this is not kept. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One HTTP/2 session to one origin (api.push.apple.com, fcm.googleapis.com),
 * shared by every request, as both services ask. It is opened on first use
 * and replaced when it goes away: on GOAWAY or a timed-out stream the old
 * session is closed gracefully (its streams finish) and new requests open a
 * new one; on an error it is gone at once and its streams fail (the sender
 * retries them).
 */
export class H2Client {
  /** Sessions opened so far (tests and logs). */
  sessionsOpened = 0;
  private session: http2.ClientHttp2Session | null = null;
  private closed = false;

  constructor(
    readonly origin: string,
    private readonly opts: H2Options,
    private readonly log: Logger,
  ) {}

  /** Sends one request; rejects on a lost connection, a reset stream or a timeout (all worth a retry). */
  request(headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('client closed'));
        return;
      }
      let session: http2.ClientHttp2Session;
      let stream: http2.ClientHttp2Stream;
      try {
        session = this.current();
        stream = session.request(headers);
      } catch (err) {
        this.retire(this.session, 'request failed');
        reject(err);
        return;
      }
      let answer: HttpAnswer | null = null;
      let ended = false;
      let error: Error | null = null;
      let bytes = 0;
      const chunks: Buffer[] = [];
      stream.setTimeout(this.opts.timeoutMs, () => {
        error = new Error(`no answer in ${this.opts.timeoutMs} ms`);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        this.retire(session, 'request timed out');
      });
      stream.on('response', (h) => {
        answer = { status: Number(h[':status']), headers: h, body: Buffer.alloc(0) };
      });
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      stream.on('end', () => (ended = true));
      stream.on('error', (err) => (error ??= err));
      stream.on('close', () => {
        if (answer && ended && !error) resolve({ ...answer, body: Buffer.concat(chunks) });
        else reject(error ?? new Error(`stream closed without an answer (rst ${stream.rstCode})`));
      });
      stream.end(body);
    });
  }

  /** Drops the session at once; requests in flight fail. */
  close(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = null;
  }

  private current(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const next = http2.connect(this.origin, this.opts.ca ? { ca: [...this.opts.ca] } : {});
    this.sessionsOpened++;
    next.on('error', (err) => {
      this.log.warn({ origin: this.origin, err: err.message }, 'HTTP/2 session failed');
      this.forget(next);
    });
    next.on('goaway', (code: number) => this.retire(next, `GOAWAY ${code}`));
    next.on('close', () => this.forget(next));
    // An idle session does not keep the process alive; the listener does.
    next.unref();
    this.session = next;
    return next;
  }

  /** No new requests on `s`; it closes once its streams are done. */
  private retire(s: http2.ClientHttp2Session | null, why: string): void {
    if (!s) return;
    this.log.debug({ origin: this.origin, why }, 'HTTP/2 session retired');
    this.forget(s);
    if (!s.closed && !s.destroyed) s.close();
  }

  private forget(s: http2.ClientHttp2Session): void {
    if (this.session === s) this.session = null;
  }
}
