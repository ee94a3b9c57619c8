/**
 * Command ids and their bodies: lookup, typed encode and decode.
 *
 *   const bytes = encodeBody(Cid.CID_MSG_DATA, { from_user_id: 1, ... });
 *   const msg = decodeBody(Cid.CID_MSG_DATA, bytes); // IM.Message.IMMsgData
 *
 * Decoding behaves like the C++ peers' ParseFromArray: malformed bytes, a
 * missing required field or an unknown enum value make the body invalid
 * (ImError IM_ERR_BAD_BODY). Encoding checks the same rules first, because a
 * peer would drop a body that breaks them.
 */
import { ErrorCode, ImError } from '../common/errors.ts';
import { Cid, ServiceId, serviceIdOf, type CidName, type CidValue } from './cid.ts';
import { COMMAND_TABLE, type CommandRow, type CommandTable } from './command-table.ts';
import { messageTypeName, type MessageClass, type MessageInitOf, type MessageOf } from './messages.ts';

export { Cid, ServiceId, serviceIdOf };
export type { CidName, CidValue, ServiceIdName, ServiceIdValue } from './cid.ts';

type BodyOf<M> = M extends null ? null : MessageOf<M>;
type InitOf<M> = M extends null ? null | undefined : MessageInitOf<M>;

/** Decoded body type per command id, e.g. `CommandMessages[0x0301]` is `IM.Message.IMMsgData`. */
export type CommandMessages = { [C in CidValue]: BodyOf<CommandTable[C]['message']> };
/** Accepted encode input per command id (the generated `I...` interfaces). */
export type CommandInits = { [C in CidValue]: InitOf<CommandTable[C]['message']> };
/** Any decoded body. */
export type AnyBody = CommandMessages[CidValue];
/** Any encodable body. */
export type AnyBodyInit = CommandInits[CidValue];

export interface CommandDef {
  readonly id: CidValue;
  readonly name: CidName;
  /** `id >> 8`. */
  readonly serviceId: number;
  /** Generated class of the body, or null when the command has no body. */
  readonly message: MessageClass<AnyBody> | null;
  /** Fully qualified protobuf name of the body, e.g. `IM.Message.IMMsgData`; null without body. */
  readonly messageName: string | null;
  /** Command that answers this one; undefined for notifications, responses and fire-and-forget commands. */
  readonly responseId: CidValue | undefined;
  /** Anything a peer implementation must know beyond body and answer. */
  readonly note: string | undefined;
}

const byId = new Map<number, CommandDef>();
for (const [name, id] of Object.entries(Cid) as [CidName, CidValue][]) {
  const row = COMMAND_TABLE[id];
  const message = row.message as MessageClass<AnyBody> | null;
  byId.set(id, Object.freeze({
    id,
    name,
    serviceId: serviceIdOf(id),
    message,
    messageName: message === null ? null : messageTypeName(message),
    responseId: (row.responseId ?? undefined) as CidValue | undefined,
    note: (row as CommandRow).note,
  }));
}

/** Every command, ordered by id. */
export const ALL_COMMANDS: readonly CommandDef[] = Object.freeze([...byId.values()].sort((a, b) => a.id - b.id));

/** True when `id` is a command id of the protocol. */
export function isKnownCid(id: number): id is CidValue {
  return byId.has(id);
}

/** The table entry of a command id, or undefined when unknown. */
export function commandById(id: number): CommandDef | undefined {
  return byId.get(id);
}

/** The table entry of a command id; throws ImError IM_ERR_UNKNOWN_COMMAND when unknown. */
export function requireCommand(id: number): CommandDef {
  const def = byId.get(id);
  if (def === undefined) {
    throw new ImError(ErrorCode.UNKNOWN_COMMAND, `unknown command id 0x${id.toString(16).padStart(4, '0')}`);
  }
  return def;
}

function describe(def: CommandDef): string {
  return `${def.name} (0x${def.id.toString(16).padStart(4, '0')})`;
}

/**
 * Encodes the body of command `cid`. Throws IM_ERR_UNKNOWN_COMMAND for an
 * unknown id and IM_ERR_BAD_BODY when `msg` misses a required field or has a
 * wrongly typed value / unknown enum value.
 */
export function encodeBody<C extends CidValue>(cid: C, msg: CommandInits[C]): Uint8Array;
/** Untyped form for ids only known at run time (a literal id must match its body type). */
export function encodeBody<N extends number>(cid: N, msg: number extends N ? AnyBodyInit : never): Uint8Array;
export function encodeBody(cid: number, msg: AnyBodyInit): Uint8Array {
  const def = requireCommand(cid);
  const cls = def.message as MessageClass<AnyBody, AnyBodyInit> | null;
  if (cls === null) {
    if (msg !== null && msg !== undefined) {
      throw new ImError(ErrorCode.BAD_BODY, `${describe(def)} carries no body`);
    }
    return new Uint8Array(0);
  }
  const problem = msg === null || msg === undefined ? 'object expected' : cls.verify(msg as Record<string, unknown>);
  if (problem !== null) {
    throw new ImError(ErrorCode.BAD_BODY, `cannot encode ${describe(def)} as ${def.messageName}: ${problem}`);
  }
  return cls.encode(msg).finish();
}

/**
 * Decodes the body of command `cid`. Throws IM_ERR_UNKNOWN_COMMAND for an
 * unknown id and IM_ERR_BAD_BODY (protobufjs error as `cause`) for bytes that
 * do not form a valid message of the command's type.
 */
export function decodeBody<C extends CidValue>(cid: C, bytes: Uint8Array): CommandMessages[C];
export function decodeBody(cid: number, bytes: Uint8Array): AnyBody;
export function decodeBody(cid: number, bytes: Uint8Array): AnyBody {
  const def = requireCommand(cid);
  const cls = def.message;
  if (cls === null) {
    if (bytes.length !== 0) throw new ImError(ErrorCode.BAD_BODY, `${describe(def)} carries no body`);
    return null as unknown as AnyBody;
  }
  let msg: AnyBody;
  try {
    // A Buffer view (no copy) so `bytes` fields always come out as Buffer.
    msg = cls.decode(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ImError(ErrorCode.BAD_BODY, `bad ${describe(def)} body: ${reason}`, { cause: err });
  }
  const problem = cls.verify(msg as unknown as Record<string, unknown>);
  if (problem !== null) {
    throw new ImError(ErrorCode.BAD_BODY, `bad ${describe(def)} body: ${problem}`);
  }
  return msg;
}
