// The last hour per phase as a uPlot chart: drawn (solid), allocated (dashed), limit in force (dotted).

import uPlot from '../vendor/uplot/uPlot.esm.js';

const PHASES = ['L1', 'L2', 'L3'];
// IEC 60446 phase colours (brown, black, grey), with grey darkened to stay readable on white.
const COLORS = { L1: '#a0522d', L2: '#1f1f1f', L3: '#6b6b6b' };
const HOUR_S = 3600;
/** The window grows with the history, from ten minutes to the hour. */
const MIN_WINDOW_S = 600;

export function phaseChart(container) {
  // Values hold until the next sample: a stepped line, without points, draws them as they were.
  const stepped = uPlot.paths.stepped({ align: 1 });
  const series = [{}];
  for (const [kind, dash, width] of [['drawn', undefined, 2], ['allocated', [6, 4], 1.5], ['limit', [2, 3], 1.5]]) {
    for (const p of PHASES) series.push({ label: `${p} ${kind}`, stroke: COLORS[p], width, paths: stepped, points: { show: false }, ...(dash ? { dash } : {}), value: (_u, v) => (v == null ? '–' : `${v.toFixed(1)} A`) });
  }
  const data = series.map(() => []);
  const size = () => ({ width: Math.max(280, container.clientWidth), height: container.clientWidth < 500 ? 200 : 260 });
  const plot = new uPlot({ ...size(), series, scales: {
      x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_WINDOW_S), Math.max(max, Date.now() / 1000)] },
      y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] },
    }, axes: [{}, { label: 'A', size: 50 }], legend: { live: false } }, data, container);
  const observer = new ResizeObserver(() => plot.setSize(size()));
  observer.observe(container);

  return {
    /** Samples are [time ms, drawn L1..L3, allocated L1..L3, limit L1..L3]; older or repeated ones are skipped. */
    add(samples) {
      for (const s of samples) {
        const t = s[0] / 1000;
        const last = data[0].length ? data[0][data[0].length - 1] : -Infinity;
        if (t <= last) continue;
        data.forEach((col, i) => col.push(i === 0 ? t : (s[i] ?? null)));
      }
      const from = Date.now() / 1000 - HOUR_S;
      let drop = 0;
      while (drop < data[0].length && data[0][drop] < from) drop++;
      if (drop) data.forEach((col) => col.splice(0, drop));
      plot.setData(data);
    },
    get points() {
      return data[0].length;
    },
    destroy() {
      observer.disconnect();
      plot.destroy();
    },
  };
}
