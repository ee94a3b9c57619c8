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
  log: Logger;
}

/**
 * Every `intervalMs`, refreshes the login owner keys of this server's live
 * sessions in one pipelined pass: their TTLs are extended, keys Redis lost
 * are claimed again, and a session whose key names another owner now (a
 * login that happened while the key was gone) is kicked, so one session per
 * user and client class remains. One pass at a time; the timer is unref'd.
 */
export class OwnerRefresher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  passes = 0;
  reclaimedKicks = 0;

  constructor(private readonly d: OwnerRefresherDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refreshNow(), this.d.intervalMs);
    this.timer.unref();
  }

  /** One pass (joins the running one). Failures are logged; the next tick tries again. */
  refreshNow(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async pass(): Promise<void> {
    const claims = this.d.sessions.claims(this.d.serverId);
    if (claims.length === 0) return;
    try {
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
