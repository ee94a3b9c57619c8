import type { Logger } from 'pino';
import type { ClientConnection } from './client-conn.ts';
import { KickReason } from './conversation.ts';
import type { LoginOwners } from './dup-login.ts';
import type { Presence } from './presence.ts';
import type { Sessions } from './sessions.ts';

export interface OwnerRefresherDeps {
  serverId: string;
  owners: LoginOwners;
  sessions: Sessions<ClientConnection>;
  presence: Presence;
  intervalMs: number;
  /** How often the marker of this server's claims is checked (a lost one means Redis lost the claims: re-claim now); 0: never. */
  checkMs: number;
  log: Logger;
}

/**
 * Every `intervalMs`, refreshes the login owner keys of this server's live
 * sessions in one pipelined pass: their TTLs are extended, keys Redis lost
 * are claimed again, and a session whose key names another owner now (a
 * login that happened while the key was gone) is kicked, so one session per
 * user and client class remains. Each pass leaves a marker beside the keys;
 * every `checkMs` the marker is looked up, and when Redis lost it (restarted
 * empty, flushed) a pass runs at once, so a login after the loss still
 * finds the live session's claim. One pass at a time; timers are unref'd.
 */
export class OwnerRefresher {
  private timer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  private running: Promise<void> | null = null;
  passes = 0;
  reclaimedKicks = 0;
  /** Passes started because the marker was gone. */
  lossPasses = 0;

  constructor(private readonly d: OwnerRefresherDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refreshNow(), this.d.intervalMs);
    this.timer.unref();
    if (this.d.checkMs > 0) {
      this.checkTimer = setInterval(() => void this.checkMarker(), this.d.checkMs);
      this.checkTimer.unref();
    }
  }

  private async checkMarker(): Promise<void> {
    if (this.checking || this.running) return;
    this.checking = true;
    try {
      if (await this.d.owners.isLive(this.d.serverId)) return;
      this.lossPasses++;
      this.d.log.warn('login owner marker gone (Redis lost its data?): claiming the live sessions again');
      await this.refreshNow();
    } catch {
      // Redis unreachable: the next check tries again.
    } finally {
      this.checking = false;
    }
  }

  /** One pass (joins the running one). Failures are logged; the next tick tries again. */
  refreshNow(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.timer = null;
    this.checkTimer = null;
    await this.running;
  }

  private async pass(): Promise<void> {
    const claims = this.d.sessions.claims(this.d.serverId);
    try {
      // The marker first: a loss after it shows at the next check, one before it is repaired by this pass.
      await this.d.owners.markLive(this.d.serverId);
      if (claims.length === 0) return;
      const superseded = await this.d.owners.refresh(claims);
      const byOwner = new Map(superseded.length > 0 ? claims.map((x) => [`${x.cls}:${x.owner}`, x]) : []);
      for (const s of superseded) {
        const c = byOwner.get(`${s.cls}:${s.owner}`);
        if (!c) continue;
        this.reclaimedKicks++;
        this.d.log.info({ uid: s.uid, conn: c.connId, by: s.by }, 'login owner taken by a newer login; session kicked');
        this.d.presence.onKickConn({ userId: s.uid, clientType: c.clientType, serverId: this.d.serverId, connId: c.connId, reason: KickReason.DUPLICATE_USER });
      }
    } catch (err) {
      this.d.log.warn({ err, claims: claims.length }, 'login owners not refreshed');
    } finally {
      this.passes++;
    }
  }
}
