/**
 * Conversations, client classes and picking a link by key: the small rules
 * several modules share.
 */

export { conversationKey, isGroupMsgType, SessionType } from '../proto/conversation.ts';

/** IM.BaseDefine.UserStatType. */
export const UserStatus = { ONLINE: 1, OFFLINE: 2, LEAVE: 3 } as const;
/** IM.BaseDefine.KickReasonType. */
export const KickReason = { DUPLICATE_USER: 1, MOBILE_KICK: 2 } as const;

/** ios (0x11) and android (0x12); windows (0x01) and mac (0x02) are PC. */
export function isMobile(clientType: number): boolean {
  return (clientType & 0xf0) === 0x10;
}

/** Duplicate-login class: one PC and one mobile session per user. */
export function clientClass(clientType: number): 'pc' | 'mobile' {
  return isMobile(clientType) ? 'mobile' : 'pc';
}

/** FNV-1a, 32 bits. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche so that similar keys spread
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * Rendezvous hashing: the item with the highest hash of (key, item name).
 * A key keeps its item while that item is in the list; when it leaves, only
 * its keys move.
 */
export function pickByKey<T>(items: readonly T[], key: string, nameOf: (item: T) => string): T {
  let best = items[0] as T;
  let bestScore = -1;
  for (const item of items) {
    const score = hash32(`${key}|${nameOf(item)}`);
    if (score > bestScore) {
      best = item;
      bestScore = score;
    }
  }
  return best;
}
