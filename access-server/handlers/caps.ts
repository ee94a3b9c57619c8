/**
 * CID_EXT_CLIENT_CAPS_REQ (proto/IM.Ext.proto): a logged-in client names the
 * behaviours it wants beyond TeamTalk's; the answer lists those this server
 * knows, and they replace the connection's set. Before login the dispatcher
 * refuses the request like any other command.
 */
import { knownCaps } from '../../proto/caps.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import type { ClientFail, ClientHandler, HandlerEntry } from './types.ts';

const clientCaps: ClientHandler = async (_ctx, conn, req) => {
  const asked = (req.message as unknown as IM.Ext.IMClientCapsReq).caps;
  const accepted = knownCaps(asked);
  conn.session!.caps = new Set(accepted);
  conn.log.debug({ asked: asked.length, accepted }, 'client capabilities');
  conn.send(Cid.CID_EXT_CLIENT_CAPS_RSP, { caps: accepted }, req.header.seqNum);
};

/** Nothing accepted: the connection keeps TeamTalk's behaviour. */
const clientCapsFail: ClientFail = (conn, req) => {
  if (conn.session) conn.session.caps = new Set();
  conn.send(Cid.CID_EXT_CLIENT_CAPS_RSP, { caps: [] }, req.header.seqNum);
};

export const handlers: ReadonlyArray<HandlerEntry> = [[Cid.CID_EXT_CLIENT_CAPS_REQ, clientCaps, clientCapsFail]];
