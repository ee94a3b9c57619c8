import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { isImError } from '../common/errors.ts';
import { ALL_COMMANDS, Cid, decodeBody, encodeBody } from './commands.ts';
import { IM, type MessageClass } from './messages.ts';
import { allTypes, loadProtoRoot } from './reflection.ts';
import { rng } from '../test/helpers/rng.ts';

const root = loadProtoRoot();
const { messages } = allTypes(root);

/** The generated static class for a reflected type, e.g. IM.Message.IMMsgData. */
function staticClass(type: protobuf.Type): MessageClass<object, object> {
  let cur: unknown = { IM };
  for (const part of type.fullName.replace(/^\./, '').split('.')) cur = (cur as Record<string, unknown>)[part];
  assert.ok(cur, `no generated class for ${type.fullName}`);
  return cur as MessageClass<object, object>;
}

/** A value for every field (repeated: two elements), derived from the field so samples differ. */
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    const one = (i: number): unknown => {
      if (f.resolvedType instanceof protobuf.Type) return sample(f.resolvedType, depth + 1);
      if (f.resolvedType instanceof protobuf.Enum) {
        const values = Object.values(f.resolvedType.values);
        return values[(f.id + i) % values.length];
      }
      switch (f.type) {
        case 'uint32': return (f.id * 1_000_003 + i * 7919 + depth) % 2 ** 32 + (i === 1 ? 2 ** 31 : 0);
        case 'string': return `${f.name}-${i}-ü€😀`;
        case 'bytes': return Buffer.from([f.id, i, 0x00, 0xff, 0x80, depth]);
        default: throw new Error(`sample: unhandled field type ${f.type} in ${type.fullName}`);
      }
    };
    out[f.name] = f.repeated ? [one(0), one(1)] : one(0);
  }
  return out;
}

/** Plain data view: class instances to plain objects, Buffer/Uint8Array to hex. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

test('every message type round-trips with every field populated', () => {
  assert.equal(messages.length, 119, "TeamTalk's 110 and our 9 extensions");
  let fields = 0;
  for (const type of messages) {
    const cls = staticClass(type);
    const obj = sample(type);
    assert.equal(cls.verify(obj), null, `${type.fullName} sample does not verify`);
    const bytes = cls.encode(obj).finish();
    // The static encoder and the reflection encoder must agree byte for byte.
    assert.deepEqual(Buffer.from(type.encode(obj).finish()), Buffer.from(bytes), `${type.fullName} encoders differ`);
    const back = cls.decode(bytes);
    assert.deepEqual(plain(back), plain(obj), `${type.fullName} did not round-trip`);
    assert.deepEqual(Object.keys(back as object).sort(), type.fieldsArray.map((f) => f.name).sort());
    fields += type.fieldsArray.length;
  }
  assert.equal(fields, 388 + 22, "TeamTalk's 388 fields and 22 of our extensions");
});

test('every command body round-trips through encodeBody / decodeBody', () => {
  for (const def of ALL_COMMANDS) {
    assert.ok(def.messageName !== null, `${def.name} has no body type`);
    const obj = sample(root.lookupType(def.messageName));
    const bytes = encodeBody(def.id, obj);
    assert.deepEqual(plain(decodeBody(def.id, bytes)), plain(obj), def.name);
  }
});

test('empty messages encode to zero bytes and decode from them', () => {
  for (const cid of [Cid.CID_OTHER_HEARTBEAT, Cid.CID_LOGIN_REQ_MSGSERVER, Cid.CID_LOGIN_REQ_LOGINOUT,
    Cid.CID_MSG_TIME_REQUEST, Cid.CID_OTHER_FILE_SERVER_IP_REQ]) {
    assert.equal(encodeBody(cid, {}).length, 0);
    assert.deepEqual(plain(decodeBody(cid, new Uint8Array(0))), {});
  }
});

function assertBadBody(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isImError(err, 'IM_ERR_BAD_BODY'), `${what}: expected IM_ERR_BAD_BODY, got ${String(err)}`);
    return;
  }
  assert.fail(`${what}: expected IM_ERR_BAD_BODY, nothing was thrown`);
}

test('missing required fields, unknown enums and unknown ids are rejected', () => {
  for (const def of ALL_COMMANDS) {
    const type = root.lookupType(def.messageName ?? '');
    if (type.fieldsArray.some((f) => f.required)) {
      assertBadBody(() => decodeBody(def.id, new Uint8Array(0)), `${def.name} empty body`);
      assertBadBody(() => encodeBody(def.id, {}), `${def.name} encode {}`);
    }
  }
  // Undecodable bytes: the protobufjs error is kept as the cause.
  assert.throws(() => decodeBody(Cid.CID_MSG_DATA, Uint8Array.of(0x08)),
    (e) => isImError(e, 'IM_ERR_BAD_BODY') && e.cause instanceof RangeError);
  // msg_type 0x07 is not a MsgType value; a proto2 C++ peer would not accept it either.
  const msg = { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 0, msgType: 7, msgData: Buffer.alloc(0) };
  assertBadBody(() => encodeBody(Cid.CID_MSG_DATA, msg), 'encode bad enum');
  assertBadBody(() => decodeBody(Cid.CID_MSG_DATA, IM.Message.IMMsgData.encode(msg).finish()), 'decode bad enum');
  for (const id of [0, 0x070c, 0x0800, 0xffff]) {
    assert.throws(() => decodeBody(id, new Uint8Array(0)), (e) => isImError(e, 'IM_ERR_UNKNOWN_COMMAND'));
    assert.throws(() => encodeBody(id, {}), (e) => isImError(e, 'IM_ERR_UNKNOWN_COMMAND'));
  }
});


test('truncated and garbage bodies give IM_ERR_BAD_BODY and nothing else', () => {
  const valid = ALL_COMMANDS.map((def) => ({ def, bytes: encodeBody(def.id, sample(root.lookupType(def.messageName ?? ''))) }));
  // Every strict prefix either decodes (it ends on a field boundary after all
  // required fields) or is IM_ERR_BAD_BODY; dropping only the last byte always cuts a field.
  for (const { def, bytes } of valid) {
    for (let n = 0; n < bytes.length; n++) {
      try {
        decodeBody(def.id, bytes.subarray(0, n));
      } catch (err) {
        assert.ok(isImError(err, 'IM_ERR_BAD_BODY'), `${def.name} prefix ${n}: ${String(err)}`);
      }
    }
    if (bytes.length > 0) assertBadBody(() => decodeBody(def.id, bytes.subarray(0, bytes.length - 1)), `${def.name} minus 1`);
  }
  const next = rng(0x1a2b3c4d);
  let rejected = 0;
  const rounds = 20_000;
  for (let i = 0; i < rounds; i++) {
    const { def, bytes } = valid[Math.floor(next() * valid.length)]!;
    let input: Uint8Array;
    if (i % 2 === 0) {
      input = Uint8Array.from({ length: Math.floor(next() * 48) }, () => Math.floor(next() * 256));
    } else {
      input = Uint8Array.from(bytes);
      const flips = 1 + Math.floor(next() * 3);
      for (let k = 0; k < flips && input.length > 0; k++) input[Math.floor(next() * input.length)]! ^= 1 << Math.floor(next() * 8);
    }
    try {
      decodeBody(def.id, input);
    } catch (err) {
      assert.ok(isImError(err, 'IM_ERR_BAD_BODY'), `${def.name} fuzz #${i} ${Buffer.from(input).toString('hex')}: ${String(err)}`);
      rejected++;
    }
  }
  assert.ok(rejected > rounds / 2, `only ${rejected} of ${rounds} fuzz inputs were rejected`);
});
