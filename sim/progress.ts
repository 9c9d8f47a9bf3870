import type { Progress } from './runner.js';

/** A one-line progress bar on stderr (plain lines every 10 % when stderr is not a terminal). */
export function progressBar(label: string): (p: Progress) => void {
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  let lastDetail = '';
  const clock = (s: number): string => {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h}:${String(m).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  };
  return (p) => {
    if (p.phase === 'setup') {
      if (p.detail && p.detail !== lastDetail) {
        lastDetail = p.detail;
        process.stderr.write(tty ? `\r\x1b[K${label}: ${p.detail}` : `${label}: ${p.detail}\n`);
      }
      return;
    }
    const f = Math.min(1, p.simS / p.totalS);
    const width = 30;
    const bar = `[${'#'.repeat(Math.round(f * width)).padEnd(width, '.')}] ${String(Math.round(f * 100)).padStart(3)}%  ${clock(p.simS)} / ${clock(p.totalS)} scenario, ${p.realS.toFixed(0)} s real`;
    if (tty) process.stderr.write(`\r\x1b[K${label} ${bar}${p.phase === 'done' ? '\n' : ''}`);
    else if (Math.floor(f * 10) !== lastDecile || p.phase === 'done') {
      lastDecile = Math.floor(f * 10);
      process.stderr.write(`${label} ${bar}\n`);
    }
  };
}
