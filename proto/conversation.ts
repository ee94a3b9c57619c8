/** Protocol facts about conversations that every process and tool shares. */

/** IM.BaseDefine.MsgType. */
export const MsgType = { SINGLE_TEXT: 0x01, SINGLE_AUDIO: 0x02, GROUP_TEXT: 0x11, GROUP_AUDIO: 0x12 } as const;
/** IM.BaseDefine.SessionType. */
export const SessionType = { SINGLE: 1, GROUP: 2 } as const;

export function isGroupMsgType(msgType: number): boolean {
  return msgType === MsgType.GROUP_TEXT || msgType === MsgType.GROUP_AUDIO;
}

/**
 * The key of a conversation, which keeps its messages in order wherever they
 * are queued or routed: `g{groupId}`, or the sorted user pair `{a}:{b}`.
 */
export function conversationKey(fromUserId: number, toSessionId: number, group: boolean): string {
  if (group) return `g${toSessionId}`;
  return fromUserId < toSessionId ? `${fromUserId}:${toSessionId}` : `${toSessionId}:${fromUserId}`;
}
