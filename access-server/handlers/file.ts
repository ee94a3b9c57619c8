/**
 * File transfer commands. TeamTalk moves file data through a separate file
 * server; this cluster has none. So: offline-file records are kept (db-proxy
 * stores and lists them) but no file server address is ever given out, and
 * a transfer request is refused with an explicit result code.
 */
import { Cid } from '../../proto/commands.ts';
import { forward, ResultCode, SessionType, sessionKey, tell } from './db-forward.ts';
import type { ClientFail, ClientHandler, HandlerEntry } from './types.ts';

/**
 * Offline files waiting for the session's user. ip_addr_list (where to
 * fetch them) is always empty: there is no file server to name.
 */
const hasOffline = forward(Cid.CID_FILE_HAS_OFFLINE_REQ, {
  response: Cid.CID_FILE_HAS_OFFLINE_RES,
  failure: (r) => ({ userId: r.userId, offlineFileList: [], ipAddrList: [] }),
  adjust: (a) => ({ ...a, ipAddrList: [] }),
});

/** The sender uploaded an offline file: recorded for the receiver, the sender being the session's user. No answer. */
const addOffline = tell(Cid.CID_FILE_ADD_OFFLINE_REQ, (r, session) => ({
  message: { ...r, fromUserId: session.uid },
  orderKey: sessionKey(SessionType.SINGLE, session.uid, r.toUserId),
}));

/**
 * An offline file record is dropped by its sender or, once it has the
 * file, its receiver. A request whose sender is not the session's user is
 * read as one about a file sent to the session's user. No answer.
 */
const delOffline = tell(Cid.CID_FILE_DEL_OFFLINE_REQ, (r, session) => {
  const message = r.fromUserId === session.uid ? r : { ...r, toUserId: session.uid };
  return { message, orderKey: sessionKey(SessionType.SINGLE, Number(message.fromUserId), message.toUserId) };
});

/**
 * A request to send a file (online or offline transfer) needs a file
 * server, which this cluster does not have: always answered with
 * result_code 1 and no task id, as TeamTalk answers when no file server
 * is connected.
 */
const refuseTransfer: ClientFail = (conn, req) => {
  const m = req.message;
  conn.send(
    Cid.CID_FILE_RESPONSE,
    {
      resultCode: ResultCode.FAILED,
      fromUserId: conn.session?.uid ?? 0,
      toUserId: m.toUserId ?? 0,
      fileName: m.fileName ?? '',
      taskId: '',
      ipAddrList: [],
      transMode: m.transMode,
    },
    req.header.seqNum,
  );
};

const fileRequest: ClientHandler = async (ctx, conn, req) => {
  conn.log.info({ to: req.message.toUserId }, 'file transfer refused: no file server');
  refuseTransfer(conn, req, null, ctx);
};

export const handlers: ReadonlyArray<HandlerEntry> = [hasOffline, addOffline, delOffline, [Cid.CID_FILE_REQUEST, fileRequest, refuseTransfer]];
