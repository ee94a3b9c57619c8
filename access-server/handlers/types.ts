import type { Logger } from 'pino';
import type { PduHeader } from '../../proto/header.ts';

/** Who a logged-in connection is. */
export interface ClientSession {
  uid: number;
  /** IM.BaseDefine.ClientType of the connection. */
  clientType: number;
  /** IM.BaseDefine.UserStatType the client asked for. */
  status: number;
  /** The user's row as db-proxy's validate returned it (IM.BaseDefine.IUserInfo). */
  userInfo: object;
  /**
   * Capabilities (proto/caps.ts) the client asked for with
   * CID_EXT_CLIENT_CAPS_REQ and this server accepted; empty: the client is
   * served as TeamTalk serves its own clients.
   */
  caps: ReadonlySet<string>;
}

/** One client connection, as handlers see it. Only the connection touches its socket. */
export interface ClientConn {
  /** Unique on this access server for its lifetime; never reused. */
  readonly id: number;
  /** Null until login succeeds. */
  session: ClientSession | null;
  readonly log: Logger;
  /** The client's IP address ('' once the socket is gone). */
  readonly remoteAddress: string;
  /** Sends one PDU to this client (seqNum 0 for pushes). */
  send(commandId: number, message: object, seqNum?: number): void;
  /** Closes the connection: after `kick` the client first gets CID_LOGIN_KICK_USER. */
  close(reason: string): void;
}

/** An answer from db-proxy. */
export interface DbAnswer<T = Record<string, unknown>> {
  commandId: number;
  message: T;
}

/** Counts of what happened to chat messages, for /metrics. */
export interface MessageStats {
  /** Not stored, told to the client: CID_MSG_DATA_ACK with msg_id 0 ("refusal-ack" clients). */
  refusedAnswered: number;
  /** Not stored, left unanswered: TeamTalk's clients read any ack as success and time out on silence. */
  refusedUnanswered: number;
  /** Stored or not, nobody knew in time: the connection was closed instead of an answer. */
  outcomeUnknown: number;
}

/** What handlers can reach on the access server. */
export interface AccessContext {
  readonly serverId: string;
  readonly log: Logger;
  readonly messageStats: MessageStats;
  /** Unix time in seconds. */
  now(): number;
  /**
   * Sends a request to db-proxy and resolves with its answer. `orderKey`
   * (a conversation) picks the db-proxy link, so requests with the same key
   * keep their order. Rejects with ImError (IM_ERR_TIMEOUT,
   * IM_ERR_CONNECTION_CLOSED, IM_ERR_STORAGE when no db-proxy is reachable,
   * IM_ERR_QUEUE_FULL). `connId` goes into attach_data (TeamTalk's handle).
   * A command db-proxy does not answer resolves once written, commandId 0.
   */
  db<T = Record<string, unknown>>(commandId: number, message: object, orderKey?: string, connId?: number): Promise<DbAnswer<T>>;
  /**
   * Delivers one PDU to every connection of `userIds`: local ones directly,
   * the others through the route-servers (only to the servers holding them).
   * `exceptConnId` skips one local connection (the sender's own).
   * `orderKey` keeps deliveries of one conversation in order across servers.
   */
  deliver(userIds: readonly number[], commandId: number, message: object, opts?: { exceptConnId?: number; orderKey?: string }): void;
  /**
   * Asks a route-server and resolves with its answer of command `expect`
   * (absent where no route-server is configured, e.g. in handler tests).
   */
  routeQuery?(commandId: number, message: object, expect: number): Promise<Record<string, unknown>>;
  /** Local connections of a user (logged in), any client type. */
  localConns(uid: number): readonly ClientConn[];
  /**
   * Member ids of a live group, from db-proxy (CID_GROUP_INFO_REQUEST)
   * asked as `asUserId`, cached for a short time (ACCESS_GROUP_CACHE_MS).
   * Empty when the group does not exist or `asUserId` is not a member
   * (db-proxy answers members only). Rejects like `db`.
   */
  groupMembers(groupId: number, asUserId: number): Promise<readonly number[]>;
  /** Drops the cached members of a group (call after changing them). */
  forgetGroup(groupId: number): void;
  /**
   * Mobile push of a stored message to the device tokens of `receivers`
   * (access-server/push.ts); absent when no push server is configured.
   */
  push?(m: { fromUserId: number; toSessionId: number; msgId: number; msgType: number; msgData: Uint8Array }, receivers: readonly number[], senderNick: string | null): void;
}

/** A decoded request from a client. */
export interface ClientRequest {
  header: PduHeader;
  /** The body decoded by its command id (camelCase fields). */
  message: Record<string, unknown>;
}

/**
 * One command handler. It must answer every request that has an answer in
 * the protocol (a refusal is an explicit result code, never silence; the one
 * exception is a chat message a TeamTalk client sent, see handlers/message.ts); a
 * thrown error is caught by the dispatcher, logged, and answered by `fail`
 * where the handler table defines one.
 */
export type ClientHandler = (ctx: AccessContext, conn: ClientConn, req: ClientRequest) => Promise<void>;

/**
 * The explicit refusal of one request: called when its handler threw, or
 * when the request was refused before reaching it (message rate limit). It
 * sends the command's answer with a failure result on `req.header.seqNum`
 * (a chat message: the refusal its client understands, see handlers/message.ts).
 */
export type ClientFail = (conn: ClientConn, req: ClientRequest, err: unknown, ctx: AccessContext) => void;

/** One row of a handler table: command id, handler, optional refusal. */
export type HandlerEntry = readonly [number, ClientHandler, ClientFail?];
