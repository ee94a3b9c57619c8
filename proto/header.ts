/**
 * The 16-byte PDU header, big-endian:
 *   u32 length (whole PDU, header included) | u16 version | u16 flag |
 *   u16 service_id | u16 command_id | u16 seq_num | u16 reserved
 */
export const HEADER_LENGTH = 16;
export const PDU_VERSION = 1;

export interface PduHeader {
  /** Whole PDU length in bytes, header included. */
  length: number;
  version: number;
  flag: number;
  serviceId: number;
  commandId: number;
  seqNum: number;
  reserved: number;
}

/** A PDU as it travels: its header and the raw protobuf body. */
export interface Pdu {
  header: PduHeader;
  body: Uint8Array;
}

/** Reads a header from the first 16 bytes of `buf` at `offset` (no bounds logic: callers check). */
export function readHeader(buf: Uint8Array, offset = 0): PduHeader {
  const v = new DataView(buf.buffer, buf.byteOffset + offset, HEADER_LENGTH);
  return {
    length: v.getUint32(0),
    version: v.getUint16(4),
    flag: v.getUint16(6),
    serviceId: v.getUint16(8),
    commandId: v.getUint16(10),
    seqNum: v.getUint16(12),
    reserved: v.getUint16(14),
  };
}

/** Writes `header` into `buf` at `offset`; `length` is written as given. */
export function writeHeader(buf: Uint8Array, header: PduHeader, offset = 0): void {
  const v = new DataView(buf.buffer, buf.byteOffset + offset, HEADER_LENGTH);
  v.setUint32(0, header.length);
  v.setUint16(4, header.version);
  v.setUint16(6, header.flag);
  v.setUint16(8, header.serviceId);
  v.setUint16(10, header.commandId);
  v.setUint16(12, header.seqNum);
  v.setUint16(14, header.reserved);
}

export interface PduFields {
  commandId: number;
  /** Defaults to `commandId >> 8`, which holds for every TeamTalk command. */
  serviceId?: number;
  seqNum?: number;
  flag?: number;
  version?: number;
  reserved?: number;
}

/** Builds one PDU (header + body) into a fresh Buffer. */
export function encodePdu(fields: PduFields, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  writeHeader(out, {
    length: out.length,
    version: fields.version ?? PDU_VERSION,
    flag: fields.flag ?? 0,
    serviceId: fields.serviceId ?? fields.commandId >> 8,
    commandId: fields.commandId,
    seqNum: (fields.seqNum ?? 0) & 0xffff,
    reserved: fields.reserved ?? 0,
  });
  out.set(body, HEADER_LENGTH);
  return out;
}
