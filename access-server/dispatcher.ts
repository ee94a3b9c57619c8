import { ErrorCode, ImError } from '../common/errors.ts';
import { Cid, commandById, decodeBody } from '../proto/commands.ts';
import type { Pdu } from '../proto/header.ts';
import type { ClientConnection } from './client-conn.ts';
import type { AccessContext, ClientFail, ClientHandler, ClientRequest, HandlerEntry } from './handlers/types.ts';

interface Entry {
  handler: ClientHandler;
  fail: ClientFail | undefined;
}

export interface DispatchStats {
  requests: number;
  unknownCommands: number;
  handlerErrors: number;
  rateLimited: number;
}

/** Commands counted against the per-connection message rate... */
const RATE_LIMITED: ReadonlySet<number> = new Set([Cid.CID_MSG_DATA]);
/** ...and against its byte rate. */
const BYTE_LIMITED: ReadonlySet<number> = new Set([Cid.CID_MSG_DATA, Cid.CID_SWITCH_P2P_CMD]);

/**
 * Command id → handler. Before login only CID_LOGIN_REQ_USERLOGIN is taken
 * (anything else closes the connection); an undecodable body closes the
 * connection; an unknown command id is logged and ignored (the protocol has
 * no answer for it). A handler's exception is logged and answered by the
 * entry's refusal.
 */
export class Dispatcher {
  readonly stats: DispatchStats = { requests: 0, unknownCommands: 0, handlerErrors: 0, rateLimited: 0 };
  private readonly table = new Map<number, Entry>();

  constructor(
    private readonly ctx: AccessContext,
    entries: Iterable<HandlerEntry>,
  ) {
    for (const [commandId, handler, fail] of entries) {
      if (this.table.has(commandId)) throw new Error(`two handlers for command 0x${commandId.toString(16)}`);
      this.table.set(commandId, { handler, fail });
    }
  }

  has(commandId: number): boolean {
    return this.table.has(commandId);
  }

  dispatch(conn: ClientConnection, pdu: Pdu): void {
    const { commandId, seqNum } = pdu.header;
    if (!conn.session && commandId !== Cid.CID_LOGIN_REQ_USERLOGIN) {
      conn.log.warn({ commandId, seqNum }, 'request before login; closing');
      conn.destroy('not logged in');
      return;
    }
    const entry = this.table.get(commandId);
    if (!entry || !commandById(commandId)) {
      this.stats.unknownCommands++;
      conn.log.warn({ commandId, seqNum }, 'command not served; ignored');
      return;
    }
    let message: Record<string, unknown>;
    try {
      message = (decodeBody(commandId, pdu.body) ?? {}) as unknown as Record<string, unknown>;
    } catch (err) {
      conn.log.warn({ err, commandId, seqNum }, 'undecodable body; closing');
      conn.destroy('undecodable body');
      return;
    }
    this.stats.requests++;
    const req: ClientRequest = { header: pdu.header, message };
    const bytes = pdu.body.length;
    if (BYTE_LIMITED.has(commandId) && !conn.takeMessageToken(RATE_LIMITED.has(commandId) ? 1 : 0, bytes)) {
      this.stats.rateLimited++;
      conn.log.debug({ commandId, seqNum }, 'over the message rate; refused');
      this.refuse(conn, entry, req, new ImError(ErrorCode.RATE_LIMITED, 'too many messages per second'));
      return;
    }
    conn.began(bytes);
    let running: Promise<void>;
    try {
      running = entry.handler(this.ctx, conn, req);
    } catch (err) {
      running = Promise.reject(err);
    }
    running
      .catch((err: unknown) => {
        this.stats.handlerErrors++;
        conn.log.error({ err, commandId, seqNum }, 'handler failed');
        this.refuse(conn, entry, req, err);
      })
      .finally(() => conn.finished(bytes));
  }

  private refuse(conn: ClientConnection, entry: Entry, req: ClientRequest, err: unknown): void {
    if (!entry.fail) return;
    try {
      entry.fail(conn, req, err, this.ctx);
    } catch (e) {
      conn.log.error({ err: e, commandId: req.header.commandId }, 'refusal failed');
    }
  }
}
