/**
 * POST (any path, as TeamTalk's msfs; the Windows client posts to /upload/):
 * a multipart/form-data body whose first part with a filename is the file.
 * The body streams through the multipart reader into a temporary file, and
 * is refused as soon as it is known to be bad: over the limit (declared or
 * counted), a wrong type (extension, then first bytes), malformed framing.
 * A refused or aborted upload leaves nothing behind; a good one is published
 * by rename and answered with its path and URL.
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import { sourceKey, type Admission } from './admission.ts';
import { answerJson, linger, sendAnswer, statusOf, UploadCode, type UploadCodeValue } from './answer.ts';
import type { MsfsConfig } from './config.ts';
import { endsWithStrayCrlf, resolveKind, SNIFF_BYTES, type FileKind } from './file-types.ts';
import { checkFilename, newStoredName } from './layout.ts';
import { boundaryOf, MultipartError, MultipartParser, type MultipartEvent } from './multipart.ts';
import type { FileStore } from './store.ts';
import type { TempFile } from './temp-file.ts';

export interface UploadStats {
  stored: number;
  storedBytes: number;
  refused: number;
  aborted: number;
}

export interface UploadContext {
  config: Readonly<MsfsConfig>;
  store: FileStore;
  admission: Admission;
  stats: UploadStats;
  log: Logger;
  closing(): boolean;
  /** The prefix of this request's answer URL, ending in '/'. */
  publicUrl(req: http.IncomingMessage): string;
  /** Lets close() wait for an upload in progress. */
  track(settled: Promise<void>): void;
}

/** The CRLF the Android client writes after the file (see endsWithStrayCrlf) may pass the limit while receiving. */
const STRAY_CRLF = 2;

export function handleUpload(ctx: UploadContext, req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): void {
  const refuseNow = (code: UploadCodeValue, perAddress = false): void => {
    ctx.stats.refused++;
    ctx.log.info({ code, ip: req.socket.remoteAddress }, 'upload refused');
    sendAnswer(res, statusOf(code, perAddress), answerJson(code), code === UploadCode.BUSY ? { 'retry-after': '1' } : {});
    linger(req);
  };
  if (ctx.closing()) return refuseNow(UploadCode.BUSY);
  const boundary = boundaryOf(req.headers['content-type']);
  if (!boundary) return refuseNow(UploadCode.NO_BOUNDARY);
  const header = req.headers['content-length'];
  const declared = header === undefined ? undefined : Number(header);
  if (declared !== undefined && declared > ctx.config.maxRequestBytes) return refuseNow(UploadCode.TOO_LARGE);
  const admit = ctx.admission.admit(sourceKey(req.socket.remoteAddress ?? ''), declared ?? ctx.config.maxRequestBytes);
  if (!admit.ok) return refuseNow(UploadCode.BUSY, admit.reason === 'address');
  res.once('close', admit.release);
  if (expectContinue) res.writeContinue();
  new Upload(ctx, req, res, boundary, declared ?? ctx.config.maxRequestBytes).start();
}

class Upload {
  private readonly parser: MultipartParser;
  private temp: TempFile | undefined;
  private kind: FileKind | undefined;
  private claimedExt = '';
  private sizeSuffix = '';
  /** Which part the data events belong to. */
  private current: 'file' | 'other' = 'other';
  private file: 'none' | 'receiving' | 'received' = 'none';
  private sawDisposition = false;
  private received = 0;
  private paused = false;
  /** Set once the outcome is decided: answered, refused or aborted. */
  private decided = false;
  private readonly settled: Promise<void>;
  private settle!: () => void;

  constructor(
    private readonly ctx: UploadContext,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    boundary: string,
    private readonly maxBody: number,
  ) {
    this.parser = new MultipartParser(boundary);
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  start(): void {
    this.ctx.track(this.settled);
    this.req.on('data', this.onData);
    this.req.once('end', () => void this.complete());
    this.req.on('error', () => undefined);
    this.res.once('close', () => {
      if (!this.decided) void this.abort();
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.decided) return;
    this.received += chunk.length;
    if (this.received > this.maxBody) return void this.refuse(UploadCode.TOO_LARGE);
    let events: MultipartEvent[];
    try {
      events = this.parser.push(chunk);
    } catch (err) {
      if (!(err instanceof MultipartError)) this.ctx.log.error({ err }, 'multipart reader failed');
      return void this.refuse(UploadCode.BAD_PART_HEADERS);
    }
    for (const ev of events) if (!this.handle(ev)) return;
  };

  /** False once the upload is refused. */
  private handle(ev: MultipartEvent): boolean {
    if (ev.kind === 'part') {
      this.sawDisposition ||= ev.headers.disposition;
      const filename = ev.headers.filename;
      if (this.file !== 'none' || !filename) {
        this.current = 'other';
        return true;
      }
      const checked = checkFilename(filename, this.ctx.config.types);
      if (!checked.ok) return this.refuse(checked.code);
      this.claimedExt = checked.ext;
      this.sizeSuffix = checked.sizeSuffix;
      this.temp = this.ctx.store.createTemp();
      this.file = 'receiving';
      this.current = 'file';
      return true;
    }
    if (ev.kind === 'data') {
      const temp = this.temp;
      if (this.current !== 'file' || !temp) return true;
      if (temp.size + ev.data.length > this.ctx.config.maxFileBytes + STRAY_CRLF) return this.refuse(UploadCode.TOO_LARGE);
      const more = temp.write(ev.data);
      if (!this.kind && temp.first.length >= SNIFF_BYTES && !this.recognise(temp)) return false;
      if (!more && !this.paused) {
        this.paused = true;
        this.req.pause();
        void temp.whenDrained().then(() => {
          this.paused = false;
          if (!this.decided) this.req.resume();
        });
      }
      return true;
    }
    if (ev.kind === 'partEnd' && this.current === 'file' && this.temp) {
      this.file = 'received';
      this.current = 'other';
      return this.kind !== undefined || this.recognise(this.temp);
    }
    return true;
  }

  private recognise(temp: TempFile): boolean {
    this.kind = resolveKind(this.claimedExt, temp.first, this.ctx.config.types);
    return this.kind !== undefined || this.refuse(UploadCode.BAD_TYPE);
  }

  private async complete(): Promise<void> {
    if (this.decided) return;
    if (!this.parser.done) return void this.refuse(this.parser.inPreamble ? UploadCode.BOUNDARY_NOT_FOUND : UploadCode.TRUNCATED);
    const temp = this.temp;
    const kind = this.kind;
    if (this.file !== 'received' || !temp || !kind) {
      return void this.refuse(this.sawDisposition ? UploadCode.NO_FILENAME : UploadCode.NO_DISPOSITION);
    }
    if (temp.size - (endsWithStrayCrlf(kind, temp.tail) ? STRAY_CRLF : 0) > this.ctx.config.maxFileBytes) {
      return void this.refuse(UploadCode.TOO_LARGE);
    }
    this.decided = true;
    const { stats, log } = this.ctx;
    try {
      const size = await temp.finish(endsWithStrayCrlf(kind, temp.tail) ? STRAY_CRLF : 0);
      const name = newStoredName(kind.ext, this.sizeSuffix);
      await this.ctx.store.publish(temp, name);
      stats.stored++;
      stats.storedBytes += size;
      log.info({ path: name.path, bytes: size, ip: this.req.socket.remoteAddress }, 'upload stored');
      sendAnswer(this.res, 200, answerJson(UploadCode.OK, name.path, this.ctx.publicUrl(this.req) + name.path));
    } catch (err) {
      log.error({ err }, 'upload could not be stored');
      await temp.discard();
      sendAnswer(this.res, statusOf(UploadCode.STORAGE), answerJson(UploadCode.STORAGE));
    } finally {
      this.settle();
    }
  }

  /** Answers `code`, drops the file; always false. */
  private refuse(code: UploadCodeValue): false {
    if (this.decided) return false;
    this.decided = true;
    this.ctx.stats.refused++;
    this.ctx.log.info({ code, ip: this.req.socket.remoteAddress, received: this.received }, 'upload refused');
    sendAnswer(this.res, statusOf(code), answerJson(code));
    linger(this.req);
    void this.dropTemp();
    return false;
  }

  private async abort(): Promise<void> {
    this.decided = true;
    this.ctx.stats.aborted++;
    this.ctx.log.info({ ip: this.req.socket.remoteAddress, received: this.received }, 'upload aborted by the client');
    await this.dropTemp();
  }

  private async dropTemp(): Promise<void> {
    await this.temp?.discard();
    this.settle();
  }
}
