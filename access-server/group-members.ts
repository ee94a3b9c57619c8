import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';

type Fetch = (commandId: number, message: object, orderKey?: string) => Promise<{ message: unknown }>;

interface CacheEntry {
  members: Promise<readonly number[]>;
  /** When the answer arrived; +Infinity while the request runs. */
  at: number;
  /** Forgotten while its request ran: expires as soon as it is answered. */
  stale: boolean;
}

/** Most groups kept; the oldest entry goes first when full. */
const MAX_ENTRIES = 10_000;

/**
 * Member ids of groups for pushing group messages, through db-proxy's
 * CID_GROUP_INFO_REQUEST (version 0, so the group is always returned),
 * asked as a member (the sender of the message being pushed: db-proxy
 * tells group information to members only), cached for `ttlMs` after the
 * answer. An answer that does not list the asker (no longer a member) is
 * not cached. Concurrent callers share one request
 * and one promise, so messages of one group that wait for members are
 * released in the order they asked. Failures are not cached.
 */
export class GroupMembers {
  private readonly cache = new Map<number, CacheEntry>();

  constructor(
    private readonly fetch: Fetch,
    private readonly ttlMs: number,
  ) {}

  get(groupId: number, asUserId: number): Promise<readonly number[]> {
    const hit = this.cache.get(groupId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.members;
    if (hit && hit.at === Number.POSITIVE_INFINITY) return hit.members;
    const entry: CacheEntry = { at: Number.POSITIVE_INFINITY, stale: false, members: Promise.resolve([]) };
    entry.members = this.load(groupId, asUserId).then(
      (ids) => {
        if (!ids.includes(asUserId)) entry.stale = true;
        entry.at = entry.stale ? 0 : Date.now();
        if ((this.ttlMs === 0 || entry.stale) && this.cache.get(groupId) === entry) this.cache.delete(groupId);
        return ids;
      },
      (err: unknown) => {
        if (this.cache.get(groupId) === entry) this.cache.delete(groupId);
        throw err;
      },
    );
    this.cache.delete(groupId);
    this.cache.set(groupId, entry);
    if (this.cache.size > MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return entry.members;
  }

  forget(groupId: number): void {
    const hit = this.cache.get(groupId);
    if (!hit) return;
    if (hit.at === Number.POSITIVE_INFINITY) hit.stale = true;
    else this.cache.delete(groupId);
  }

  private async load(groupId: number, asUserId: number): Promise<readonly number[]> {
    const req: IM.Group.IIMGroupInfoListReq = { userId: asUserId, groupVersionList: [{ groupId, version: 0 }] };
    const answer = await this.fetch(Cid.CID_GROUP_INFO_REQUEST, req, `g${groupId}`);
    const rsp = answer.message as IM.Group.IMGroupInfoListRsp;
    const info = rsp.groupInfoList.find((g) => g.groupId === groupId);
    return Object.freeze([...(info?.groupMemberList ?? [])]);
  }
}
