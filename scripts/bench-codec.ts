/**
 * npm run bench:codec — frames/s through the frame decoder and IMMsgData
 * decode+encode/s, on the current thread (one core). Repeats each measure
 * and reports the median; writes bench-results/codec.json.
 *
 *   npm run bench:codec -- [--seconds 2] [--repeats 5]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu } from '../proto/header.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, repeats: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
const repeats = Number(values.repeats);

const msg = {
  fromUserId: 100001,
  toSessionId: 100002,
  msgId: 123456,
  createTime: 1_700_000_000,
  msgType: 1,
  msgData: Buffer.from('a typical chat line, about sixty bytes of base64-ish text...'),
  attachData: Buffer.from([0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 3]),
};
const body = encodeBody(Cid.CID_MSG_DATA, msg);
const pdu = encodePdu({ commandId: Cid.CID_MSG_DATA, seqNum: 7 }, body);

/** Runs `step` (which does `perStep` operations) for `seconds`; returns operations per second. */
function rate(step: () => void, perStep: number): number {
  const end = performance.now() + seconds * 1000;
  let ops = 0;
  let now = performance.now();
  const t0 = now;
  while (now < end) {
    for (let i = 0; i < 100; i++) step();
    ops += 100 * perStep;
    now = performance.now();
  }
  return ops / ((now - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// A 64 KiB chunk of back-to-back PDUs, like one socket read under load.
const perChunk = Math.floor(65536 / pdu.length);
const chunk = Buffer.concat(Array.from({ length: perChunk }, () => pdu));
// The same stream split at awkward points (frames straddling reads).
const split = [chunk.subarray(0, 1000), chunk.subarray(1000, 30001), chunk.subarray(30001)];

const cases: Record<string, () => number> = {
  'frames/s (64 KiB reads)': () => {
    const d = new FrameDecoder();
    return rate(() => void d.push(chunk), perChunk);
  },
  'frames/s (split reads)': () => {
    const d = new FrameDecoder();
    return rate(() => {
      for (const s of split) d.push(s);
    }, perChunk);
  },
  'IMMsgData decode+encode/s': () => rate(() => void encodeBody(Cid.CID_MSG_DATA, decodeBody(Cid.CID_MSG_DATA, body)), 1),
  'IMMsgData decode/s': () => rate(() => void decodeBody(Cid.CID_MSG_DATA, body), 1),
  'PDU encode (header+body)/s': () => rate(() => void encodePdu({ commandId: Cid.CID_MSG_DATA, seqNum: 7 }, encodeBody(Cid.CID_MSG_DATA, msg)), 1),
};

const results: Record<string, { median: number; runs: number[] }> = {};
for (const [name, run] of Object.entries(cases)) {
  run(); // warm-up
  const runs = Array.from({ length: repeats }, run);
  results[name] = { median: median(runs), runs };
  console.log(`${name.padEnd(30)} ${Math.round(median(runs)).toLocaleString('en-US').padStart(14)}   (median of ${repeats} × ${seconds} s)`);
}
console.log(`PDU size: ${pdu.length} bytes (IMMsgData body ${body.length} bytes); node ${process.version}`);
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/codec.json', JSON.stringify({ node: process.version, seconds, repeats, pduBytes: pdu.length, results }, null, 2));
