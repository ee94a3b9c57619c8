import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import {
  ALL_COMMANDS, Cid, ServiceId, commandById, decodeBody, encodeBody, isKnownCid, requireCommand,
  type CommandMessages,
} from './commands.ts';
import { IM } from './messages.ts';
import { allTypes, loadProtoRoot } from './reflection.ts';

const root = loadProtoRoot();
const { messages, enums } = allTypes(root);
const cmdEnums = enums.filter((e) => (e.parent?.fullName === '.IM.BaseDefine' || e.parent?.fullName === '.IM.Ext') && e.name.endsWith('CmdID'));
/** TeamTalk's own protocol, without our extensions (IM.Ext). */
const isTeamTalk = (t: protobuf.ReflectionObject): boolean => !t.fullName.startsWith('.IM.Ext.');
const reflectedCids = new Map<string, number>(cmdEnums.flatMap((e) => Object.entries(e.values)));

test('counts: all of TeamTalk, plus our extensions', () => {
  const tt = { messages: messages.filter(isTeamTalk), enums: enums.filter(isTeamTalk) };
  const enumValues = tt.enums.reduce((n, e) => n + Object.keys(e.values).length, 0);
  const ttCids = ALL_COMMANDS.filter((c) => c.serviceId !== ServiceId.SID_EXT);
  console.log(`TeamTalk: messages=${tt.messages.length} enums=${tt.enums.length} enumValues=${enumValues} commandIds=${ttCids.length}`);
  assert.equal(tt.messages.length, 110);
  assert.equal(tt.enums.length, 23);
  assert.equal(enumValues, 158);
  assert.equal(ttCids.length, 95);
  assert.equal(cmdEnums.length, 8);
  assert.equal(reflectedCids.size, 104);
  assert.equal(ALL_COMMANDS.length, 104);
});

test('every CID_* enum value has a table entry and vice versa', () => {
  for (const [name, id] of reflectedCids) {
    assert.ok(name.startsWith('CID_'), name);
    assert.equal(Cid[name as keyof typeof Cid], id, `Cid.${name}`);
    assert.equal(commandById(id)?.name, name, `table entry for ${name}`);
  }
  assert.deepEqual(Object.keys(Cid).sort(), [...reflectedCids.keys()].sort());
  assert.deepEqual(ALL_COMMANDS.map((c) => c.name).sort(), [...reflectedCids.keys()].sort());
  assert.equal(new Set(ALL_COMMANDS.map((c) => c.id)).size, ALL_COMMANDS.length);
  // The literal table agrees with the generated enum objects too.
  assert.equal(Cid.CID_MSG_DATA, IM.BaseDefine.MessageCmdID.CID_MSG_DATA);
  assert.equal(Cid.CID_OTHER_FILE_SERVER_IP_RSP, IM.BaseDefine.OtherCmdID.CID_OTHER_FILE_SERVER_IP_RSP);
});

test('service ids', () => {
  const sid = root.lookupEnum('IM.BaseDefine.ServiceID').values;
  const { SID_EXT, ...teamTalkServices } = ServiceId;
  assert.deepEqual(teamTalkServices, { ...sid });
  assert.equal(SID_EXT, 0x0a, 'our extensions take a service id TeamTalk does not use');
  assert.ok(!Object.values(sid).includes(SID_EXT));
  const known = new Set<number>(Object.values(ServiceId));
  for (const c of ALL_COMMANDS) {
    assert.equal(c.serviceId, c.id >> 8, c.name);
    assert.ok(known.has(c.serviceId), `${c.name} service ${c.serviceId}`);
  }
});

test('responses exist, stay in their service and are not requests themselves', () => {
  let withResponse = 0;
  for (const c of ALL_COMMANDS) {
    if (c.responseId === undefined) continue;
    withResponse++;
    const r = commandById(c.responseId);
    assert.ok(r, `${c.name} -> 0x${c.responseId.toString(16)} missing`);
    assert.equal(r.serviceId, c.serviceId, `${c.name} -> ${r.name}`);
    assert.equal(r.responseId, undefined, `${r.name} answers ${c.name} but expects an answer itself`);
  }
  assert.equal(withResponse, 39);
  assert.equal(requireCommand(Cid.CID_MSG_DATA).responseId, Cid.CID_MSG_DATA_ACK);
  assert.equal(requireCommand(Cid.CID_OTHER_VALIDATE_REQ).responseId, Cid.CID_OTHER_VALIDATE_RSP);
  assert.equal(requireCommand(Cid.CID_MSG_UNREAD_CNT_REQUEST).responseId, Cid.CID_MSG_UNREAD_CNT_RESPONSE);
});

test('each command names a real message; every non-shared message is carried by exactly one command', () => {
  const carried = new Map<string, string>();
  for (const c of ALL_COMMANDS) {
    assert.ok(c.message !== null && c.messageName !== null, `${c.name} has no body type`);
    const type = root.lookupType(c.messageName);
    assert.ok(type instanceof protobuf.Type);
    assert.ok(!carried.has(c.messageName), `${c.messageName} carried by ${carried.get(c.messageName)} and ${c.name}`);
    carried.set(c.messageName, c.name);
  }
  const shared = messages.filter((m) => m.fullName.startsWith('.IM.BaseDefine.')).map((m) => m.fullName.slice(1));
  const rest = messages.map((m) => m.fullName.slice(1)).filter((n) => !shared.includes(n));
  assert.deepEqual([...carried.keys()].sort(), rest.sort());
  assert.equal(shared.length, 15);
  assert.equal(commandById(Cid.CID_MSG_DATA)?.messageName, 'IM.Message.IMMsgData');
  assert.equal(commandById(Cid.CID_OTHER_FILE_TRANSFER_REQ)?.messageName, 'IM.Server.IMFileTransferReq');
});

test('unknown ids', () => {
  for (const id of [-1, 0, 0x0100, 0x070c, 0x0735, 0x0801, 0x10000]) {
    assert.equal(commandById(id), undefined);
    assert.equal(isKnownCid(id), false);
  }
  assert.equal(isKnownCid(0x0301), true);
});

test('bodies are typed per command id', () => {
  const bytes = encodeBody(Cid.CID_MSG_DATA_ACK, { userId: 1, sessionId: 2, msgId: 3, sessionType: 1 });
  const ack: IM.Message.IMMsgDataAck = decodeBody(Cid.CID_MSG_DATA_ACK, bytes);
  assert.equal(ack.msgId, 3);
  // Compile-time checks (tsc): the mapped types pick the right classes.
  const same: CommandMessages[typeof Cid.CID_MSG_DATA] extends IM.Message.IMMsgData ? true : false = true;
  assert.ok(same);
  if (bytes.length < 0) {
    // @ts-expect-error an ack body is not an IMMsgData
    const wrong: IM.Message.IMMsgData = decodeBody(Cid.CID_MSG_DATA_ACK, bytes);
    // @ts-expect-error unknown field for IMMsgDataAck
    encodeBody(Cid.CID_MSG_DATA_ACK, { fromUserId: 1 });
    void wrong;
  }
});
