import type { ProfileSummary } from './balancer-profile.js';

/** Figures and text of the balancer latency bench: percentiles, the table, the diagnosis notes. */

export interface Stats {
  n: number;
  missing: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function stats(values: readonly (number | null)[]): Stats {
  const ok = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  const q = (p: number): number => (ok.length ? ok[Math.min(ok.length - 1, Math.ceil(p * ok.length) - 1)]! : Number.NaN);
  const r = (v: number): number => Number(v.toFixed(1));
  return { n: ok.length, missing: values.length - ok.length, p50: r(q(0.5)), p99: r(q(0.99)), max: r(ok[ok.length - 1] ?? Number.NaN), mean: r(ok.reduce((s, v) => s + v, 0) / (ok.length || 1)) };
}

/** NATS messages per event, by subject class, for a plug-in pass and an unplug pass of `n` events each. */
export function perEvent(plug: Record<string, number>, unplug: Record<string, number>, n: number): string {
  const keys = [...new Set([...Object.keys(plug), ...Object.keys(unplug)])].sort((a, b) => (plug[b] ?? 0) - (plug[a] ?? 0));
  const f = (v: number | undefined): string => ((v ?? 0) / n).toFixed(2).padStart(6);
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  return [`  ${'plug-in'.padStart(8)} ${'unplug'.padStart(8)}  subject`, ...keys.map((k) => `  ${f(plug[k]).padStart(8)} ${f(unplug[k]).padStart(8)}  ${k}`), `  ${f(sum(plug)).padStart(8)} ${f(sum(unplug)).padStart(8)}  total`].join('\n');
}

export function profileNote(p: ProfileSummary): string {
  const lines = [`CPU profile of the 1,000-charger node over the measured window (${p.file}): ${p.totalMs} ms sampled, ${p.busyMs} ms busy.`];
  const section = (title: string, items: readonly { ms: number; pct: number; fn?: string; file?: string }[], n: number): void => {
    lines.push(`  ${title}:`);
    for (const f of items.slice(0, n)) lines.push(`    ${String(f.ms).padStart(6)} ms ${String(f.pct).padStart(5)}%  ${f.fn ?? f.file}`);
  };
  section('self time by file/package', p.selfByFile, 10);
  section('self time by function', p.selfByFunction, 10);
  section('self time charged to the nearest package/platform frame (native writes land on their writer), by file', p.byOwnerFile, 12);
  section('... by function', p.byOwnerFunction, 15);
  section('inclusive time, platform functions', p.inclusivePlatform, 15);
  return lines.join('\n');
}

/** A plain text table of rows with the same keys. */
export function renderTable(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)';
  const keys = Object.keys(rows[0]!);
  const cells = [keys, ...rows.map((r) => keys.map((k) => String(r[k] ?? '')))];
  const widths = keys.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
