/**
 * One chat user of the chaos load, as a real client behaves: logged in to
 * its access server, and logged in again (every RELOGIN_MS, bounded per
 * attempt) whenever its connection drops, for as long as the suite runs it.
 * `gen` counts connections: a message is expected to be pushed to a
 * receiver only if the connection it had when the message was sent is the
 * one it still has at the end.
 */
import { ClientType, ImSession, type IncomingMessage } from '../../proto/session.ts';
import { userName, userPassword } from '../bench/types.ts';
import type { ServerAddress } from '../bench-cluster/types.ts';

const RELOGIN_MS = 100;
const LOGIN_TIMEOUT_MS = 2_000;
/** Per message: an answer later than this counts as none. */
export const ANSWER_TIMEOUT_MS = 15_000;

export class Peer {
  session: ImSession | null = null;
  gen = 0;
  private running = true;
  private timer: NodeJS.Timeout | null = null;
  lastError = '';

  constructor(
    readonly uid: number,
    private readonly server: ServerAddress,
    private readonly onMessage: (m: IncomingMessage) => void,
    private readonly clientType: number = ClientType.ANDROID,
  ) {}

  /** Logs in once (the first connection must work); later drops are re-logged in. */
  async start(): Promise<void> {
    await this.connect();
    if (!this.session) throw new Error(`user ${this.uid} cannot log in: ${this.lastError}`);
  }

  get up(): boolean {
    return this.session !== null;
  }

  private async connect(): Promise<void> {
    try {
      const s = await ImSession.login({
        ...this.server,
        userName: userName(this.uid),
        password: userPassword(this.uid),
        clientType: this.clientType,
        requestTimeoutMs: LOGIN_TIMEOUT_MS,
        heartbeatIntervalMs: 10_000,
        // Stored rows are checked against the text sent, byte for byte.
        textForm: 'plain',
      });
      if (!this.running) return s.destroy();
      this.gen++;
      this.session = s;
      s.on('message', this.onMessage);
      s.on('error' as 'close', () => undefined);
      s.once('close', () => {
        if (this.session !== s) return;
        this.session = null;
        this.gen++;
        this.schedule();
      });
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      this.schedule();
    }
  }

  private schedule(): void {
    if (!this.running || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, RELOGIN_MS);
    this.timer.unref();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    const s = this.session;
    this.session = null;
    s?.destroy();
  }
}
