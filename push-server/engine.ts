import type { Logger } from 'pino';
import { settleWithin } from '../common/lifecycle.ts';
import { IM } from '../proto/messages.ts';
import type { PushStats, QueueGauges } from './metrics.ts';
import { Sender, type SenderOptions } from './sender.ts';
import { PushResultCode, PushType, type Provider, type ProviderName, type PushResultCodeValue } from './types.ts';

export interface EngineOptions extends SenderOptions {
  /** Tokens accepted and not yet settled, all providers. */
  maxQueueItems: number;
  /** Bytes of the requests those tokens came in. */
  maxQueueBytes: number;
}

/** One device token of a request, as decoded. */
export interface TokenInfo {
  userType: number;
  token: string;
  pushCount: number;
  pushType: number;
}

const ClientType = IM.BaseDefine.ClientType;
const FULL_LOG_EVERY_MS = 10_000;

/** Which provider serves a client type; null for PC clients (TeamTalk answers them 1 as well). */
export function providerFor(userType: number): ProviderName | null {
  if (userType === ClientType.CLIENT_TYPE_IOS) return 'apns';
  if (userType === ClientType.CLIENT_TYPE_ANDROID) return 'fcm';
  return null;
}

/**
 * Turns requests into per-token sends and their outcomes into result codes.
 * Admission is bounded in tokens and bytes together: a token that does not
 * fit is refused (result 1) at once rather than queued; tokens of a
 * provider that is not configured are refused too, never queued.
 */
export class PushEngine implements QueueGauges {
  private readonly senders: Partial<Record<ProviderName, Sender>> = {};
  private items = 0;
  private heldBytes = 0;
  private closing = false;
  private lastFullLogAt = 0;
  private readonly warnedUnconfigured = new Set<ProviderName>();

  constructor(
    private readonly providers: readonly Provider[],
    private readonly opts: EngineOptions,
    private readonly stats: PushStats,
    private readonly log: Logger,
  ) {
    for (const p of providers) this.senders[p.name] = new Sender(p, opts, stats, log.child({ provider: p.name }));
  }

  get queued(): number {
    return Object.values(this.senders).reduce((n, s) => n + s.queued, 0);
  }

  get active(): number {
    return Object.values(this.senders).reduce((n, s) => n + s.active, 0);
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Pushes `flash`/`data` to every token; resolves, once each token is
   * settled, with a result code per token in request order. Never rejects.
   * `bytes` (the request's size) is held while any of its tokens is.
   */
  async push(source: number, tokens: readonly TokenInfo[], flash: string, data: string, bytes: number): Promise<PushResultCodeValue[]> {
    const results: PushResultCodeValue[] = tokens.map(() => PushResultCode.FAILED);
    const pending: Promise<void>[] = [];
    let charged = false;
    for (const [i, t] of tokens.entries()) {
      this.stats.received++;
      const name = providerFor(t.userType);
      if (name === null) {
        this.stats.unsupported++;
        continue;
      }
      const sender = this.senders[name];
      if (!sender) {
        this.stats.unconfigured++;
        if (!this.warnedUnconfigured.has(name)) {
          this.warnedUnconfigured.add(name);
          this.log.warn({ provider: name }, 'tokens for a provider that is not configured; answered failed');
        }
        continue;
      }
      if (this.closing || this.items >= this.opts.maxQueueItems || (!charged && this.heldBytes + bytes > this.opts.maxQueueBytes)) {
        this.stats.refused++;
        this.logFull();
        continue;
      }
      if (!charged) {
        charged = true;
        this.heldBytes += bytes;
      }
      this.items++;
      const job = { token: t.token, flash, data, badge: t.pushCount, silent: t.pushType !== PushType.NORMAL };
      pending.push(
        new Promise((resolve) =>
          sender.submit(source, job, (outcome) => {
            this.items--;
            if (outcome === 'sent') results[i] = PushResultCode.OK;
            resolve();
          }),
        ),
      );
    }
    await Promise.all(pending);
    if (charged) this.heldBytes -= bytes;
    for (const r of results) if (r !== PushResultCode.OK) this.stats.failed++;
    return results;
  }

  /** Takes no more tokens, lets what is accepted finish within `graceMs`, then fails the rest and closes the providers. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const senders = Object.values(this.senders);
    await settleWithin(Promise.all(senders.map((s) => s.idle())), graceMs);
    for (const s of senders) s.abort();
    for (const p of this.providers) p.close();
    // Attempts in flight end (failed) as their streams are torn down.
    await settleWithin(Promise.all(senders.map((s) => s.idle())), 1000);
  }

  private logFull(): void {
    const now = Date.now();
    if (now - this.lastFullLogAt < FULL_LOG_EVERY_MS) return;
    this.lastFullLogAt = now;
    const why = this.closing ? 'shutting down' : `queue full: ${this.items} tokens, ${this.heldBytes} bytes`;
    this.log.warn({ items: this.items, bytes: this.heldBytes, max: this.opts.maxQueueItems, maxBytes: this.opts.maxQueueBytes }, `tokens refused (${why})`);
  }
}
