import $protobuf from 'protobufjs/minimal.js';
import { Cid } from '../proto/commands.ts';
import { conversationKey, isGroupMsgType, SessionType } from '../proto/conversation.ts';

const WIRE_VARINT = 0;
const NONE: readonly string[] = Object.freeze([]);

/** Field numbers of (user, peer or group, type) per conversation-keyed command. */
const FIELDS = new Map<number, readonly [number, number, number]>([
  [Cid.CID_MSG_DATA, [1, 2, 5]], // from_user_id, to_session_id, msg_type
  [Cid.CID_MSG_READ_ACK, [1, 2, 4]], // user_id, session_id, session_type
  [Cid.CID_MSG_LIST_REQUEST, [1, 3, 2]], // user_id, session_id, session_type
  [Cid.CID_MSG_GET_LATEST_MSG_ID_REQ, [1, 3, 2]],
  [Cid.CID_MSG_GET_BY_MSG_ID_REQ, [1, 3, 2]],
]);

/**
 * The ordering keys of a request: requests sharing a key run in arrival
 * order and never in two batches at once (order-gate.ts).
 * - Conversation `g{groupId}` or the sorted pair `{a}:{b}` (the same key for
 *   a message, a read ack, a list, a latest id or a get-by-id request of the
 *   conversation), so a read ack cannot overtake a message it follows.
 * - User `u{id}` for what a one-to-one message or a read ack changes in the
 *   user's unread counts and what an unread count request reads. (Group
 *   messages bump every member's count in one atomic script; their members
 *   are not known here, so they carry only the group key.)
 * The event loop reads just the varint fields it needs instead of decoding
 * the body, which the worker decodes anyway; a body without them has no key
 * (the worker refuses it).
 */
export function orderKeysOf(commandId: number, body: Uint8Array): readonly string[] {
  if (commandId === Cid.CID_MSG_UNREAD_CNT_REQUEST) {
    const [user] = varints(body, 1, 0, 0);
    return user < 0 ? NONE : [`u${user}`];
  }
  const fields = FIELDS.get(commandId);
  if (!fields) return NONE;
  const [user, session, type] = varints(body, ...fields);
  if (user < 0 || session < 0 || type < 0) return NONE;
  if (commandId === Cid.CID_MSG_DATA) {
    const group = isGroupMsgType(type);
    return group ? [conversationKey(user, session, true)] : [conversationKey(user, session, false), `u${session}`];
  }
  const group = type === SessionType.GROUP;
  const conv = conversationKey(user, session, group);
  return commandId === Cid.CID_MSG_READ_ACK ? [conv, `u${user}`] : [conv];
}

/** The conversation key of a CID_MSG_DATA body, or null when it has none. */
export function orderKeyOf(commandId: number, body: Uint8Array): string | null {
  return commandId === Cid.CID_MSG_DATA ? (orderKeysOf(commandId, body)[0] ?? null) : null;
}

/** Values of up to three varint fields (0 = not wanted), -1 where absent or the body is malformed. */
function varints(body: Uint8Array, a: number, b: number, c: number): [number, number, number] {
  const out: [number, number, number] = [-1, b === 0 ? 0 : -1, c === 0 ? 0 : -1];
  try {
    const r = $protobuf.Reader.create(body);
    while (r.pos < r.len && (out[0] < 0 || out[1] < 0 || out[2] < 0)) {
      const tag = r.uint32();
      const field = tag >>> 3;
      if ((tag & 7) === WIRE_VARINT && field !== 0 && (field === a || field === b || field === c)) {
        out[field === a ? 0 : field === b ? 1 : 2] = r.uint32();
      } else {
        r.skipType(tag & 7);
      }
    }
  } catch {
    return [-1, -1, -1];
  }
  return out;
}
