/**
 * The generated protobuf classes (static code from scripts/gen-proto.ts).
 *
 * Field names are the camelCase form of the .proto names (`attach_data` is
 * `attachData`), 64-bit values are plain numbers, `bytes` decode to Buffer.
 * For each message `IM.Pkg.Name` there is a class (decoded shape) and an
 * interface `IM.Pkg.IName` (what `encode` accepts).
 */
import $protobuf from 'protobufjs/minimal.js';
import type { Reader, Writer } from 'protobufjs';

export { IM } from './generated/im.js';
export type { Reader, Writer };

/**
 * protobufjs's Buffer reader clamps a string that runs past the end of the
 * input instead of failing, so a truncated body would decode with a cut
 * string. Make it throw like every other out-of-range read (and like the C++
 * parser, which rejects such a body).
 */
$protobuf.BufferReader.prototype.string = function readStringChecked(this: Reader & { buf: Buffer }): string {
  const len = this.uint32();
  const start = this.pos;
  const end = start + len;
  if (end > this.len) throw new RangeError(`index out of range: ${start} + ${len} > ${this.len}`);
  this.pos = end;
  return this.buf.toString('utf8', start, end);
};

/** What every generated message class offers (the static side). */
export interface MessageClass<TMsg = unknown, TInit = never> {
  encode(message: TInit, writer?: Writer): Writer;
  decode(reader: Reader | Uint8Array, length?: number): TMsg;
  /** Returns a reason string when `message` is not a valid instance, else null. */
  verify(message: Record<string, unknown>): string | null;
  getTypeUrl(typeUrlPrefix?: string): string;
}

/** Decoded message type of a generated class. */
export type MessageOf<M> = M extends { decode(reader: never, length?: number): infer T } ? T : never;

/** Accepted input type of a generated class's `encode`. */
export type MessageInitOf<M> = M extends { encode(message: infer I, writer?: never): unknown } ? I : never;

/** Fully qualified protobuf name of a generated class, e.g. `IM.Message.IMMsgData`. */
export function messageTypeName(cls: Pick<MessageClass, 'getTypeUrl'>): string {
  return cls.getTypeUrl('').replace(/^\//, '');
}
