import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { groupKeys } from './group-members.ts';
import type { HandlerContext, Reply } from './types.ts';

type UnreadInfo = IM.BaseDefine.IUnreadInfo;
type Pipeline = ReturnType<HandlerContext['redis']['pipeline']>;

/** One session with something unread. */
export interface Pending {
  userId: number;
  kind: 1 | 2;
  sessionId: number;
  count: number;
  /** relateId (single) or groupId (group); 0 when the pair has no relation. */
  convId: number;
}

export function answer(userId: number, list: UnreadInfo[]): Reply {
  let totalCnt = 0;
  for (const u of list) totalCnt += u.unreadCnt ?? 0;
  return { commandId: Cid.CID_MSG_UNREAD_CNT_RESPONSE, message: { userId, totalCnt, unreadinfoList: list } };
}

/**
 * Redis reads gathered into one pipeline per round trip: each read names
 * the command to queue and what to do with its value. A failed command
 * fails the whole batch (the handler's refusal answers it).
 */
export class Reads {
  private queued: ((p: Pipeline) => unknown)[] = [];
  private handlers: ((v: unknown) => void)[] = [];

  constructor(private readonly ctx: HandlerContext) {}

  add(queue: (p: Pipeline) => unknown, use: (v: unknown) => void): void {
    this.queued.push(queue);
    this.handlers.push(use);
  }

  /** Sends what was added since the last run (nothing when nothing was) and hands out the values. */
  async run(): Promise<void> {
    if (this.queued.length === 0) return;
    const pipe = this.ctx.redis.pipeline();
    for (const q of this.queued) q(pipe);
    const handlers = this.handlers;
    this.queued = [];
    this.handlers = [];
    const results = (await pipe.exec()) ?? [];
    if (results.length !== handlers.length) throw new Error('redis pipeline answered a different number of commands');
    for (const [err] of results) if (err) throw err;
    for (let i = 0; i < handlers.length; i++) handlers[i]!(results[i]![1]);
  }
}

/** Group totals, msg id counters and members' read counts, each read once per batch. */
export class GroupCounters {
  private readonly totals = new Map<number, number>();
  private readonly hints = new Map<number, number>();
  private readonly read = new Map<string, number>();

  /** Queues what `userId`'s unread counts in `groups` need and is not queued yet. */
  want(reads: Reads, userId: number, groups: readonly number[]): void {
    for (const g of groups) {
      if (!this.totals.has(g)) {
        this.totals.set(g, 0);
        reads.add((p) => p.hget(groupKeys.total(g), 'count'), (v) => this.totals.set(g, Number(v ?? 0)));
        reads.add((p) => p.get(`group_msg_id_${g}`), (v) => this.hints.set(g, Number(v ?? 0)));
      }
      const key = `${userId}:${g}`;
      if (!this.read.has(key)) {
        this.read.set(key, 0);
        reads.add((p) => p.hget(groupKeys.read(userId, g), 'count'), (v) => this.read.set(key, Number(v ?? 0)));
      }
    }
  }

  /** Group total minus what the user has read (TeamTalk's scheme). */
  unread(userId: number, groupId: number): number {
    return (this.totals.get(groupId) ?? 0) - (this.read.get(`${userId}:${groupId}`) ?? 0);
  }

  /** The group's msg id counter, 0 when unknown. */
  hint(groupId: number): number {
    return this.hints.get(groupId) ?? 0;
  }
}
