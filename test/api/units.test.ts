import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { convertCurrents, toAmperes } from '../../api/units.js';
import { ValidationError } from '../../core/errors.js';

// api/units.ts loads mathjs's unit machinery by file path (its package exports do not list it):
// these fail at import if a new mathjs moves those files, and on any change in what is accepted.
describe('currents with units (mathjs unit machinery only)', () => {
  it('converts A, kA and mA to amperes', () => {
    expect(toAmperes('63 A', 'f')).toBe(63);
    expect(toAmperes('0.063 kA', 'f')).toBe(63);
    expect(toAmperes('6300 mA', 'f')).toBe(6.3);
    expect(toAmperes(' 16A ', 'f')).toBe(16);
  });

  it('passes numbers through for the schema to check', () => {
    expect(toAmperes(32, 'f')).toBe(32);
    expect(convertCurrents({ L1: '40 A', L2: 40, L3: '0.04 kA', other: 'x' }, ['L1', 'L2', 'L3'], 'fuse')).toEqual({ L1: 40, L2: 40, L3: 40, other: 'x' });
  });

  it.each([
    ['16 V', /not V/],
    ['16', /bare number/],
    ['A', /bare unit/],
    ['2 + 3 A', /current with its unit/],
    ['sqrt(4) A', /current with its unit/],
  ])('rejects %s naming the field', (text, reason) => {
    let thrown: unknown;
    try {
      convertCurrents({ L2: text }, ['L2'], 'fuse');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).field).toBe('fuse.L2');
    expect((thrown as Error).message).toMatch(reason);
  });
});

describe('mathjs loaded only for a current written with a unit', () => {
  // In a fresh process, so that no other test has loaded mathjs already: importing the API's units
  // and converting plain numbers must not load it (it costs a node about 8 MiB of heap).
  it('importing and converting numbers does not load mathjs; the first string does', () => {
    const script = `
      import { createRequire } from 'node:module';
      const { convertCurrents } = await import('./api/units.ts');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/mathjs/'));
      convertCurrents({ L1: 40, L2: null }, ['L1', 'L2'], 'fuse');
      const before = loaded();
      const out = convertCurrents({ L1: '40 A' }, ['L1'], 'fuse');
      console.log(JSON.stringify({ before, after: loaded(), out }));
    `;
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ before: false, after: true, out: { L1: 40 } });
  });
});
