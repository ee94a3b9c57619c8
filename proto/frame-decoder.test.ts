import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isImError } from '../common/errors.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { HEADER_LENGTH, encodePdu, readHeader, type Pdu } from './header.ts';
import { rng } from '../test/helpers/rng.ts';


function samplePdus(count: number, rand = rng(1)): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const body = Buffer.alloc(Math.floor(rand() * 300));
    for (let j = 0; j < body.length; j++) body[j] = Math.floor(rand() * 256);
    out.push(encodePdu({ commandId: 0x0301 + (i % 3), seqNum: i }, body));
  }
  return out;
}

function same(frames: Pdu[], pdus: Buffer[]): void {
  assert.equal(frames.length, pdus.length);
  frames.forEach((f, i) => {
    assert.deepEqual(f.header, readHeader(pdus[i]!));
    assert.deepEqual(Buffer.from(f.body), pdus[i]!.subarray(HEADER_LENGTH));
  });
}

test('header round-trips big-endian', () => {
  const pdu = encodePdu({ commandId: 0x0703, seqNum: 0x1234, flag: 2, reserved: 7 }, Buffer.from([1, 2, 3]));
  assert.equal(pdu.toString('hex'), '00000013' + '0001' + '0002' + '0007' + '0703' + '1234' + '0007' + '010203');
  assert.deepEqual(readHeader(pdu), {
    length: 19, version: 1, flag: 2, serviceId: 7, commandId: 0x0703, seqNum: 0x1234, reserved: 7,
  });
});

test('one byte at a time', () => {
  const pdus = samplePdus(20);
  const d = new FrameDecoder();
  const frames: Pdu[] = [];
  for (const b of Buffer.concat(pdus)) frames.push(...d.push(Buffer.from([b])));
  same(frames, pdus);
  assert.equal(d.bufferedBytes, 0);
});

test('merged into one chunk, and split at every offset', () => {
  const pdus = samplePdus(5);
  const all = Buffer.concat(pdus);
  same(new FrameDecoder().push(all), pdus);
  for (let cut = 0; cut <= all.length; cut++) {
    const d = new FrameDecoder();
    same([...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))], pdus);
  }
});

test('an empty body is a valid frame', () => {
  const d = new FrameDecoder();
  const frames = d.push(encodePdu({ commandId: 0x0701 }, new Uint8Array(0)));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.body.length, 0);
});

function headerWithLength(length: number): Buffer {
  const b = Buffer.alloc(HEADER_LENGTH);
  b.writeUInt32BE(length >>> 0, 0);
  return b;
}

for (const length of [0, 1, 15]) {
  test(`length ${length} is rejected as too short, fed whole or byte by byte`, () => {
    assert.throws(() => new FrameDecoder().push(headerWithLength(length)), (e) => isImError(e, ErrorCode.FRAME_TOO_SHORT));
    const d = new FrameDecoder();
    const bytes = headerWithLength(length);
    for (let i = 0; i < HEADER_LENGTH - 1; i++) assert.deepEqual(d.push(bytes.subarray(i, i + 1)), []);
    assert.throws(() => d.push(bytes.subarray(HEADER_LENGTH - 1)), (e) => isImError(e, ErrorCode.FRAME_TOO_SHORT));
  });
}

test('an oversized length is rejected once the header is in, before any body is buffered', () => {
  const d = new FrameDecoder({ maxFrameLength: 1000 });
  assert.deepEqual(d.push(headerWithLength(1001).subarray(0, 10)), []);
  assert.throws(() => d.push(headerWithLength(1001).subarray(10)), (e) => isImError(e, ErrorCode.FRAME_TOO_LONG));
  assert.equal(d.bufferedBytes, 0);
  assert.throws(() => d.push(Buffer.alloc(10)), (e) => isImError(e, ErrorCode.FRAME_TOO_LONG), 'stays failed');
  assert.throws(() => new FrameDecoder().push(headerWithLength(0xffffffff)), (e) => isImError(e, ErrorCode.FRAME_TOO_LONG));
  // exactly the maximum is fine
  const ok = new FrameDecoder({ maxFrameLength: 1000 });
  assert.equal(ok.push(encodePdu({ commandId: 1 }, Buffer.alloc(1000 - HEADER_LENGTH))).length, 1);
});

test('frames before a bad header in the same chunk are delivered, then the error', () => {
  const good = samplePdus(3);
  const d = new FrameDecoder({ maxFrameLength: 4096 });
  same(d.push(Buffer.concat([...good, headerWithLength(5000)])), good);
  assert.ok(isImError(d.error, ErrorCode.FRAME_TOO_LONG));
  assert.throws(() => d.push(Buffer.alloc(1)), (e) => isImError(e, ErrorCode.FRAME_TOO_LONG));
});

test('seeded fuzz: random chunking of valid streams reproduces the frames', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rand = rng(seed);
    const pdus = samplePdus(1 + Math.floor(rand() * 10), rand);
    const all = Buffer.concat(pdus);
    const d = new FrameDecoder();
    const frames: Pdu[] = [];
    for (let at = 0; at < all.length;) {
      const n = 1 + Math.floor(rand() * 64);
      frames.push(...d.push(all.subarray(at, at + n)));
      at += n;
    }
    same(frames, pdus);
  }
});

test('seeded fuzz: random bytes never crash, never buffer past the maximum', () => {
  const max = 4096;
  for (let seed = 1; seed <= 500; seed++) {
    const rand = rng(seed);
    const d = new FrameDecoder({ maxFrameLength: max });
    for (let i = 0; i < 50 && !d.error; i++) {
      const chunk = Buffer.alloc(1 + Math.floor(rand() * 200));
      for (let j = 0; j < chunk.length; j++) chunk[j] = Math.floor(rand() * 256);
      // Sometimes make the length plausible, so bodies get buffered too.
      if (chunk.length >= 4 && rand() < 0.5) chunk.writeUInt32BE(HEADER_LENGTH + Math.floor(rand() * 400), 0);
      try {
        for (const f of d.push(chunk)) {
          assert.equal(f.header.length, f.body.length + HEADER_LENGTH);
          assert.ok(f.header.length <= max);
        }
      } catch (e) {
        assert.ok(isImError(e, ErrorCode.FRAME_TOO_SHORT) || isImError(e, ErrorCode.FRAME_TOO_LONG), String(e));
      }
      assert.ok(d.bufferedBytes < max);
    }
  }
});

test('a bad maximum is a config error', () => {
  assert.throws(() => new FrameDecoder({ maxFrameLength: 3 }), (e) => isImError(e, ErrorCode.BAD_CONFIG));
});

test('read() never throws: frames before a bad header, then the error, and the error again after', () => {
  const good = samplePdus(2);
  const d = new FrameDecoder({ maxFrameLength: 4096 });
  const first = d.read(Buffer.concat([...good, headerWithLength(5000)]));
  same(first.frames, good);
  assert.ok(isImError(first.error, ErrorCode.FRAME_TOO_LONG));
  const again = d.read(Buffer.alloc(3));
  assert.deepEqual(again.frames, []);
  assert.ok(isImError(again.error, ErrorCode.FRAME_TOO_LONG));
  const bad = new FrameDecoder().read(headerWithLength(3));
  assert.deepEqual(bad.frames, []);
  assert.ok(isImError(bad.error, ErrorCode.FRAME_TOO_SHORT));
  assert.equal(new FrameDecoder().read(good[0]!).error, null);
});

test('a large frame in many small chunks is assembled once, not re-copied per chunk', () => {
  const body = Buffer.alloc(1024 * 1024, 7);
  const whole = encodePdu({ commandId: 0x0301, seqNum: 9 }, body);
  const decoder = new FrameDecoder({ maxFrameLength: 2 * 1024 * 1024 });
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total);
    copied += out.length;
    return out;
  }) as typeof Buffer.concat;
  let frames: ReturnType<FrameDecoder['push']> = [];
  try {
    for (let i = 0; i < whole.length; i += 256) frames = frames.concat(decoder.push(whole.subarray(i, i + 256)));
  } finally {
    Buffer.concat = concat;
  }
  assert.equal(frames.length, 1);
  assert.equal(Buffer.compare(Buffer.from(frames[0]!.body), body), 0);
  // One assembly of the frame plus the header gathered once; the old decoder copied ~4,096 times (~2 GiB).
  assert.ok(copied <= 2 * whole.length, `copied ${copied} bytes for a ${whole.length}-byte frame`);
});

test('the frame cap can change between frames (a small cap before login)', () => {
  const decoder = new FrameDecoder({ maxFrameLength: 64 });
  const big = encodePdu({ commandId: 0x0301 }, Buffer.alloc(100));
  assert.equal(decoder.read(encodePdu({ commandId: 0x0701 }, Buffer.alloc(8))).frames.length, 1);
  decoder.setMaxFrameLength(1024);
  assert.equal(decoder.read(big).frames.length, 1);
  decoder.setMaxFrameLength(64);
  assert.equal(decoder.read(big).error?.code, 'IM_ERR_FRAME_TOO_LONG');
});
