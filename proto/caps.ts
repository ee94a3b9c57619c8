/**
 * Client capabilities (CID_EXT_CLIENT_CAPS_REQ in proto/IM.Ext.proto): the
 * behaviours beyond TeamTalk's a client may ask for after login. A client
 * that asks for none is served as TeamTalk serves its own clients.
 */
export const ClientCap = {
  /**
   * A message that is not stored is answered CID_MSG_DATA_ACK with msg_id 0.
   * TeamTalk's msg_server answers nothing (its clients read any ack as
   * success, and Android's throws on msg_id 0), so only clients that ask get it.
   */
  REFUSAL_ACK: 'refusal-ack',
} as const;

export type ClientCapName = (typeof ClientCap)[keyof typeof ClientCap];

const KNOWN: ReadonlySet<string> = new Set(Object.values(ClientCap));

/** The capabilities of `asked` this side knows, each once, in the order asked. */
export function knownCaps(asked: readonly string[]): ClientCapName[] {
  return [...new Set(asked)].filter((c): c is ClientCapName => KNOWN.has(c));
}
