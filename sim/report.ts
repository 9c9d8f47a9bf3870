import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Series } from './recorder.js';
import type { RunResult } from './runner.js';
import { PHASES } from '../core/model.js';

/**
 * The report folder of a run: `metrics.json` and `index.html` with inline SVG plots (no scripts,
 * no CDN): per phase the grid current against the fuse, the limit the platform knew, the limits the
 * chargers accepted and the balancer's own allocation; per charger its offer against its draw.
 */

interface Line {
  name: string;
  color: string;
  data: Series;
  dash?: string;
  width?: number;
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

/** A step series as an SVG path, reduced to at most two points per pixel column (keeps spikes). */
function stepPath(s: Series, endMs: number, x: (t: number) => number, y: (v: number) => number): string {
  if (s.t.length === 0) return '';
  const cols = new Map<number, { first: number; max: number; min: number; last: number }>();
  const order: number[] = [];
  for (let i = 0; i < s.t.length; i++) {
    const col = Math.round(x(s.t[i]!));
    const v = s.v[i]!;
    const c = cols.get(col);
    if (!c) {
      cols.set(col, { first: v, max: v, min: v, last: v });
      order.push(col);
    } else {
      c.max = Math.max(c.max, v);
      c.min = Math.min(c.min, v);
      c.last = v;
    }
  }
  let d = '';
  let prev: number | undefined;
  for (const col of order) {
    const c = cols.get(col)!;
    if (prev !== undefined) d += `H${col}`;
    d += `${d ? 'V' : `M${col},`}${y(c.first).toFixed(1)}`;
    if (c.max !== c.first) d += `V${y(c.max).toFixed(1)}`;
    if (c.min !== c.max) d += `V${y(c.min).toFixed(1)}`;
    d += `V${y(c.last).toFixed(1)}`;
    prev = c.last;
  }
  return `${d}H${x(endMs).toFixed(1)}`;
}

function chart(title: string, lines: Line[], endMs: number, opts: { width?: number; height?: number; yMin?: number } = {}): string {
  const W = opts.width ?? 900;
  const H = opts.height ?? 220;
  const m = { l: 44, r: 10, t: 22, b: 26 };
  const maxV = Math.max(1, ...lines.flatMap((l) => l.data.v)) * 1.08;
  const minV = opts.yMin ?? 0;
  const x = (t: number): number => m.l + ((W - m.l - m.r) * Math.min(t, endMs)) / endMs;
  const y = (v: number): number => H - m.b - ((H - m.t - m.b) * (v - minV)) / (maxV - minV);
  const ticks: string[] = [];
  const yStep = niceStep(maxV - minV, 5);
  for (let v = minV; v <= maxV; v += yStep) {
    ticks.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/><text x="${m.l - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${round(v)}</text>`);
  }
  const tStep = TIME_STEPS_S.find((step) => endMs / 1000 / step <= 10) ?? niceStep(endMs / 1000, 8);
  for (let s = 0; s <= endMs / 1000 + 1e-9; s += tStep) {
    ticks.push(`<text x="${x(s * 1000).toFixed(1)}" y="${H - 8}" text-anchor="middle">${fmtTime(s)}</text>`);
  }
  const paths = lines
    .filter((l) => l.data.t.length > 0)
    .map((l) => `<path d="${stepPath(l.data, endMs, x, y)}" fill="none" stroke="${l.color}" stroke-width="${l.width ?? 1.4}"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}><title>${esc(l.name)}</title></path>`);
  const legend = lines.map((l, i) => `<g transform="translate(${m.l + 8 + i * 150},12)"><line x1="0" x2="18" y1="-4" y2="-4" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/><text x="22" y="0">${esc(l.name)}</text></g>`);
  return `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-size="10" font-family="sans-serif">${ticks.join('')}<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>${paths.join('')}${legend.join('')}</svg></figure>`;
}

const TIME_STEPS_S = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400];

function niceStep(range: number, n: number): number {
  const raw = range / n;
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function fmtTime(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
  if (s >= 60) return `${Math.floor(s / 60)}m${s % 60 ? String(Math.round(s % 60)).padStart(2, '0') : ''}`;
  return `${round(s)}s`;
}

const round = (v: number): string => String(Math.round(v * 10) / 10);

function table(rows: (string | number | null)[][], head: string[]): string {
  const cell = (v: string | number | null): string => `<td>${v === null ? '—' : esc(String(v))}</td>`;
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</tbody></table>`;
}

export function renderHtml(result: RunResult, opts: { maxSites?: number; maxChargers?: number } = {}): string {
  const { metrics: m, recorder: rec, scenario, run, timing } = result;
  const endMs = scenario.durationS * 1000;
  const passRows = m.pass.map((p) => `<tr class="${p.pass ? 'ok' : 'fail'}"><td>${p.pass ? 'PASS' : 'FAIL'}</td><td>${esc(p.name)}</td><td>${p.value ?? '—'}</td><td>${esc(p.limit)}</td></tr>`);
  const summary: (string | number | null)[][] = [
    ['installations / chargers', `${m.installations} / ${m.chargers}`],
    ['overshoot caused by the platform', `${m.overshoot.platformAs} A·s (peak ${m.overshoot.platformPeakA} A, ${m.overshoot.platformS} s)`],
    ['transients (car / base load / fuse change)', `${m.overshoot.transientAs} A·s, peak ${m.overshoot.transientPeakA} A, ${m.overshoot.transientEpisodes} episodes, longest ${m.overshoot.longestTransientS} s`],
    ['utilisation (delivered / achievable)', m.utilisation],
    ["Jain's index (weighted / min over epochs)", `${m.jain.weighted ?? '—'} / ${m.jain.min ?? '—'} (${m.jain.epochs.length} epochs)`],
    ['time plug-in to first energy (max / mean)', `${m.timeToFirstEnergyS.max ?? '—'} s / ${m.timeToFirstEnergyS.mean ?? '—'} s, never charged: ${m.timeToFirstEnergyS.neverCharged}`],
    ['longest queue wait', `${m.longestQueueWaitS} s`],
    ['pauses / resumes per charger per hour (max)', `${m.pausesPerChargerHour} / ${m.resumesPerChargerHour}`],
    ['SetChargingProfile per charger per hour (max / mean)', `${m.profilesPerChargerHour.max} / ${m.profilesPerChargerHour.mean}`],
    ['time to reclaim unused current (max)', `${m.reclaim.maxS ?? '—'} s over ${m.reclaim.episodes} contended episodes (${m.reclaim.unreclaimed} not reclaimed)`],
    ['ordering violations', m.orderingViolations],
    ['offers in (0, min)', m.offersInGap],
  ];
  const runRows: (string | number | null)[][] = [
    ['compression', `${run.compression}x (${scenario.durationS} s of scenario in ${run.runRealS} s)`],
    ['setup', `${run.setupRealS} s`],
    ['scheduler lateness (max / p99, real ms)', `${run.schedulerLagMaxMs} / ${run.schedulerLagP99Ms} (= ${round((run.schedulerLagP99Ms * run.compression) / 1000)} s of scenario at p99)`],
    ['simulator CPU', `${run.simulatorCpuS} s`],
    ...(run.platform
      ? [
          ['platform CPU', `${run.platform.cpuS} s (${run.platform.cpuPct} % of one core)`],
          ['platform RSS (end / peak)', `${run.platform.rssMiB} / ${run.platform.peakRssMiB} MiB`],
          ['nats-server', `${run.platform.natsCpuS ?? '—'} s CPU, ${run.platform.natsRssMiB ?? '—'} MiB`],
        ]
      : [['platform CPU / memory', `${run.platform === undefined ? 'in-process (not separable; use --child)' : ''}`]]),
    ['platform durations (scenario ms)', Object.entries(timing.effective).map(([k, v]) => `${k}=${v}`).join(', ')],
  ];
  const sites = [...rec.sites.values()].slice(0, opts.maxSites ?? 6);
  const siteHtml = sites.map((site) => {
    const phaseCharts = PHASES.map((p) => {
      const ph = site.phases[p]!;
      return chart(`${site.id} ${p}: grid current against the fuse`, [
        { name: 'grid current', color: '#1f4e9c', data: ph.current, width: 1.8 },
        { name: 'fuse', color: '#c62828', data: ph.fuse, width: 2 },
        { name: 'limit known to the platform', color: '#ef8f00', data: ph.known, dash: '5,3' },
        { name: 'accepted limits (sum)', color: '#6a1b9a', data: ph.commanded, dash: '2,2' },
        { name: 'balancer allocation', color: '#2e7d32', data: ph.allocated },
        { name: 'base load', color: '#888', data: ph.base },
      ], endMs);
    });
    const chargers = [...rec.chargers.values()].filter((c) => c.site === site.id).slice(0, opts.maxChargers ?? 12);
    const chargerCharts = chargers.map((c) =>
      chart(`${c.id}: offer vs draw (${c.profiles} SetChargingProfile, ${c.pauses} pauses)`, [
        { name: 'offer (accepted limit)', color: '#6a1b9a', data: c.commanded, width: 1.8 },
        { name: 'draw (max phase)', color: '#1f4e9c', data: c.draw },
        { name: 'car demand', color: '#aaa', data: c.demand, dash: '3,3' },
      ], endMs, { height: 140 }),
    );
    return `<section><h2>Installation ${esc(site.id)}</h2>${phaseCharts.join('')}<h3>Chargers</h3><div class="grid">${chargerCharts.join('')}</div></section>`;
  });
  const episodes = m.episodes.slice(0, 100).map((e) => [e.site, e.phase, e.startS, e.durationS, e.peakA, e.platformAs]);
  const epochs = m.jain.epochs.slice(0, 50).map((e) => [e.phases, `${e.fromS}–${e.toS}`, e.sessions.join(' '), e.meanCurrentA.join(' '), e.jain]);
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(scenario.name)}</title><style>
body{font-family:sans-serif;margin:20px;color:#222;max-width:1900px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}
tr.ok td:first-child{color:#2e7d32;font-weight:bold}tr.fail td:first-child{color:#c62828;font-weight:bold}figure{margin:6px 0}figcaption{font-size:12px;color:#444}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr))}
.grid svg{width:100%;height:auto}</style></head><body>
<h1>${esc(scenario.name)}</h1><p>${esc(scenario.description)}</p>
<h2>Pass lines: ${m.passed ? 'all pass' : 'FAILED'}</h2><table><thead><tr><th></th><th>line</th><th>value</th><th>limit</th></tr></thead><tbody>${passRows.join('')}</tbody></table>
<h2>Metrics</h2>${table(summary, ['metric', 'value'])}
<h2>Run</h2>${table(runRows, ['', ''])}
${siteHtml.join('')}
<h2>Overshoot episodes (first 100)</h2>${table(episodes, ['installation', 'phase', 'start (s)', 'duration (s)', 'peak (A)', 'platform-caused (A·s)'])}
<h2>Fairness epochs</h2>${table(epochs, ['phases', 'window (s)', 'sessions', 'mean current (A)', 'Jain'])}
</body></html>`;
}

/** Writes `<dir>/metrics.json` and `<dir>/index.html`; returns the folder. */
export function writeReport(result: RunResult, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const { metrics, run, timing, logs, recorder } = result;
  const json = {
    ...metrics,
    run,
    platformTiming: timing,
    orderingViolationList: recorder.orderingViolations.slice(0, 200),
    reclaims: recorder.reclaims.slice(0, 200),
    notes: recorder.notes.slice(0, 200),
    chargers: [...recorder.chargers.values()]
      .sort((a, b) => b.profiles - a.profiles || (a.id < b.id ? -1 : 1))
      .slice(0, 100)
      .map((c) => ({
        id: c.id,
        profiles: c.profiles,
        pauses: c.pauses,
        resumes: c.resumes,
        sessions: c.sessions.map((x) => ({ arriveS: x.arriveT / 1000, firstEnergyS: x.firstEnergyT === undefined ? null : x.firstEnergyT / 1000, departS: x.departT === undefined ? null : x.departT / 1000, longestWaitS: x.longestWaitMs / 1000 })),
        profileLog: c.profileLog.slice(0, 300).map((p) => [Math.round(p.t / 100) / 10, p.limit ?? null, p.status ?? null]),
      })),
    longestEpisodes: longestEpisodes(result),
    logs: logs.slice(0, 500),
  };
  writeFileSync(join(dir, 'metrics.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(dir, 'index.html'), renderHtml(result));
  return dir;
}

/**
 * The five longest overshoot episodes with what led to them: the limits the platform knew for the
 * site and the profiles its chargers received (time, limit, answer), from 20 s before to 5 s after.
 * Enough to tell a late report from a late decrease or a slow car without rerunning a long run.
 */
function longestEpisodes(result: RunResult): unknown[] {
  const { metrics, recorder } = result;
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const e of [...metrics.episodes].sort((a, b) => b.durationS - a.durationS)) {
    const key = `${e.site}@${e.startS}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const from = (e.startS - 20) * 1000;
    const to = (e.startS + e.durationS + 5) * 1000;
    const inWindow = (t: number): boolean => t >= from && t <= to;
    const s = (t: number): number => Math.round(t / 10) / 100;
    out.push({
      ...e,
      known: recorder.sites.get(e.site)?.knownHistory.filter((h) => inWindow(h.t)).map((h) => [s(h.t), h.k]) ?? [],
      profiles: [...recorder.chargers.values()]
        .filter((c) => c.site === e.site)
        .flatMap((c) => c.profileLog.filter((p) => inWindow(p.t)).map((p) => [s(p.t), c.id, p.limit ?? null, p.status ?? null]))
        .sort((a, b) => (a[0] as number) - (b[0] as number)),
    });
    if (out.length === 5) break;
  }
  return out;
}
