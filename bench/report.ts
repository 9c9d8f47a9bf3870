import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Plain-text tables and the JSON report file. */

export type Cell = string | number | undefined | null;

function fmt(c: Cell): string {
  if (c === undefined || c === null) return '-';
  if (typeof c === 'string') return c;
  if (Number.isInteger(c) || Math.abs(c) >= 100) return c.toLocaleString('en-US', { maximumFractionDigits: 1 });
  return Number(c.toPrecision(3)).toString();
}

/** Left-aligned text, right-aligned numbers, a rule under the header. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map(fmt));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] === undefined || r[i] === null));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n');
}

/** Objects with the same keys as a table (for results whose shape this file does not know). */
export function tableOfObjects(rows: readonly Record<string, unknown>[]): string {
  const headers = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return table(
    headers,
    rows.map((r) => headers.map((h) => cellOf(r[h]))),
  );
}

function cellOf(v: unknown): Cell {
  if (v === undefined || v === null) return v;
  if (typeof v === 'number' || typeof v === 'string') return v;
  return JSON.stringify(v);
}

export function writeJsonReport(dir: string, report: unknown, at = new Date()): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${at.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
