import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

describe('bufferutil', () => {
  // ws unmasks every frame a charger sends; without the native addon it does so a byte at a time in
  // JavaScript (a 700-byte MeterValues: about 1.5 us against 0.13 us on the bench machine).
  it('is the native addon ws loads, not its JavaScript fallback', () => {
    const loaded = require('bufferutil') as { unmask: (b: Buffer, m: Buffer) => void };
    expect(loaded).not.toBe(require('bufferutil/fallback'));
    const frame = Buffer.from('[2,"1","Heartbeat",{}] and more than 32 bytes to take the native path');
    const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const masked = Buffer.from(frame.map((b, i) => b ^ mask[i & 3]!));
    loaded.unmask(masked, mask);
    expect(masked.equals(frame)).toBe(true);
  });
});
