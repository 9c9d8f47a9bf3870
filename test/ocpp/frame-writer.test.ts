import { describe, expect, it } from 'vitest';
import { textFrame } from '../../ocpp/frame-writer.js';
import { RawPeer, startTestServer } from './helpers.js';

/** Decodes an unmasked single-frame text message (RFC 6455 section 5.2). */
function decode(buf: Buffer): { fin: boolean; opcode: number; masked: boolean; text: string } {
  let length = buf[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    length = buf.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    length = buf.readUInt32BE(2) * 2 ** 32 + buf.readUInt32BE(6);
    at = 10;
  }
  expect(buf.length).toBe(at + length);
  return { fin: (buf[0]! & 0x80) !== 0, opcode: buf[0]! & 0x0f, masked: (buf[1]! & 0x80) !== 0, text: buf.subarray(at).toString('utf8') };
}

describe('textFrame', () => {
  it('uses the 7-bit, 16-bit and 64-bit length forms at their limits, with UTF-8 byte lengths', () => {
    for (const text of ['', 'a', 'x'.repeat(125), 'x'.repeat(126), 'é'.repeat(63), 'é'.repeat(64), 'x'.repeat(65_535), 'x'.repeat(65_536), 'ü€'.repeat(40_000)]) {
      const frame = decode(textFrame(text));
      expect(frame).toEqual({ fin: true, opcode: 1, masked: false, text });
    }
    expect(textFrame('x'.repeat(125)).length).toBe(127);
    expect(textFrame('x'.repeat(126)).length).toBe(130);
    expect(textFrame('x'.repeat(65_536)).length).toBe(65_546);
  });
});

describe('answers written straight to the socket', () => {
  it('reach a ws client intact at every length form, interleaved with pings', async () => {
    const server = await startTestServer({ pingIntervalMs: 20 });
    try {
      const accepted = server.nextConnection();
      const peer = await RawPeer.connect(server.url, 'CP-frames');
      // The server socket has no extensions: its frames take the direct path this test is about.
      expect((await accepted).rpc).toMatchObject({ direct: true });
      for (const [i, data] of ['', 'é'.repeat(70), 'x'.repeat(200), 'ü€'.repeat(10_000), 'x'.repeat(60_000)].entries()) {
        const answer = await peer.request(`f${i}`, 'DataTransfer', { vendorId: 'v', data });
        expect(answer[0]).toBe(3);
        expect(JSON.parse((answer[2] as { data: string }).data)).toEqual({ vendorId: 'v', data });
      }
      // An empty message id is a valid one.
      expect((await peer.request('', 'Heartbeat', {})).slice(0, 2)).toEqual([3, '']);
      peer.close();
    } finally {
      await server.stop();
    }
  });
});
