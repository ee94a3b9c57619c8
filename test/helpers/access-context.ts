/**
 * A small AccessContext for running access-server command handlers without
 * the server: db() is a PduClient request to a real db-proxy (commands
 * without an answer resolve once sent), deliver() and each connection's
 * send() record what would have gone out. What a connection is sent must
 * encode, as the real connection would encode it.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import type { AccessContext, ClientConn, ClientRequest, ClientSession, DbAnswer } from '../../access-server/handlers/types.ts';
import type { PduClient } from '../../proto/client.ts';
import { Cid, commandById, encodeBody } from '../../proto/commands.ts';

type Body = Record<string, unknown>;

export interface Sent {
  commandId: number;
  message: Body;
  seqNum: number;
}

export interface Delivery {
  userIds: number[];
  commandId: number;
  message: Body;
  opts: { exceptConnId?: number; orderKey?: string } | undefined;
}

const silent: Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let nextConnId = 1;

export class TestConn implements ClientConn {
  readonly id = nextConnId++;
  readonly log = silent;
  readonly remoteAddress = '127.0.0.1';
  readonly sent: Sent[] = [];
  session: ClientSession | null;

  /** `caps`: what the client asked for with CID_EXT_CLIENT_CAPS_REQ (none: a TeamTalk client). */
  constructor(uid: number | null, clientType = 0x01, caps: readonly string[] = []) {
    this.session = uid === null ? null : { uid, clientType, status: 1, userInfo: {}, caps: new Set(caps) };
  }

  send(commandId: number, message: object, seqNum = 0): void {
    encodeBody(commandId as never, message as never);
    this.sent.push({ commandId, message: message as Body, seqNum });
  }

  close(): void {
    this.session = null;
  }

  /** The one PDU sent so far; fails the test when there is not exactly one. */
  only(): Sent {
    if (this.sent.length !== 1) throw new Error(`expected one PDU, got ${this.sent.length}`);
    return this.sent[0]!;
  }
}

export interface DbCall {
  commandId: number;
  message: Body;
  orderKey: string | undefined;
  connId: number | undefined;
}

export interface TestAccess {
  ctx: AccessContext;
  deliveries: Delivery[];
  /** Every db() call, in order. */
  dbCalls: DbCall[];
  /** Group ids passed to forgetGroup(). */
  forgotten: number[];
  /** Connections localConns() knows. */
  online: TestConn[];
  db: { client: PduClient; timeoutMs: number };
}

export function createTestAccess(client: PduClient, timeoutMs = 3000): TestAccess {
  const deliveries: Delivery[] = [];
  const dbCalls: DbCall[] = [];
  const forgotten: number[] = [];
  const online: TestConn[] = [];
  const db = { client, timeoutMs };
  const ctx: AccessContext = {
    serverId: 'test-access',
    log: silent,
    messageStats: { refusedAnswered: 0, refusedUnanswered: 0, outcomeUnknown: 0 },
    now: () => Math.floor(Date.now() / 1000),
    async db<T = Body>(commandId: number, message: object, orderKey?: string, connId?: number): Promise<DbAnswer<T>> {
      dbCalls.push({ commandId, message: message as Body, orderKey, connId });
      const expect = commandById(commandId)?.responseId;
      if (expect === undefined) {
        db.client.send(commandId, message);
        return { commandId: 0, message: {} as T };
      }
      const r = await db.client.request(commandId, message, { expect, timeoutMs: db.timeoutMs });
      return { commandId: r.commandId, message: r.message as T };
    },
    deliver(userIds, commandId, message, opts) {
      encodeBody(commandId as never, message as never);
      deliveries.push({ userIds: [...userIds], commandId, message: message as Body, opts });
    },
    localConns: (uid) => online.filter((c) => c.session?.uid === uid),
    async groupMembers(groupId, asUserId) {
      const r = await ctx.db<{ groupInfoList: { groupMemberList: number[] }[] }>(Cid.CID_GROUP_INFO_REQUEST, {
        userId: asUserId,
        groupVersionList: [{ groupId, version: 0 }],
      });
      return r.message.groupInfoList[0]?.groupMemberList ?? [];
    },
    forgetGroup: (groupId) => void forgotten.push(groupId),
  };
  return { ctx, deliveries, dbCalls, forgotten, online, db };
}

let nextSeq = 100;

/** A client request as the dispatcher hands it over: a fresh seq number each time. */
export function request(commandId: number, message: Body): ClientRequest {
  return { header: { length: 0, version: 1, flag: 0, serviceId: commandId >> 8, commandId, seqNum: nextSeq++, reserved: 0 }, message };
}
