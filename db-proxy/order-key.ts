import $protobuf from 'protobufjs/minimal.js';
import { Cid } from '../proto/commands.ts';
import { conversationKey, isGroupMsgType } from '../proto/conversation.ts';

const WIRE_VARINT = 0;

/**
 * The conversation a request belongs to, for ordering: messages of one
 * conversation never run in two batches at once. Only CID_MSG_DATA has one:
 * `g{groupId}`, or the sorted user pair `{a}:{b}`. The event loop reads just
 * the three varint fields it needs (from_user_id 1, to_session_id 2,
 * msg_type 5) instead of decoding the body, which the worker decodes anyway;
 * a body without them has no key (the worker refuses it).
 */
export function orderKeyOf(commandId: number, body: Uint8Array): string | null {
  if (commandId !== Cid.CID_MSG_DATA) return null;
  let from = -1;
  let to = -1;
  let type = -1;
  try {
    const r = $protobuf.Reader.create(body);
    while (r.pos < r.len && (from < 0 || to < 0 || type < 0)) {
      const tag = r.uint32();
      const field = tag >>> 3;
      if ((tag & 7) === WIRE_VARINT && (field === 1 || field === 2 || field === 5)) {
        const v = r.uint32();
        if (field === 1) from = v;
        else if (field === 2) to = v;
        else type = v;
      } else {
        r.skipType(tag & 7);
      }
    }
  } catch {
    return null;
  }
  if (from < 0 || to < 0 || type < 0) return null;
  return conversationKey(from, to, isGroupMsgType(type));
}
