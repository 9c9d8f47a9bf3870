// One phase as a bar: drawn and allocated against the limit in force and the fuse. The installation's
// phases and every circuit's phases use it, so both read the same way.

import { amps, h, replace } from './dom.js';
import { extras } from './charger-card.js';

export const KNOWN_PHASE = new Set(['fuse', 'dynamicLimit', 'allocated', 'measured', 'failsafe']);

/** The installation's limit in force on a phase and what it is: the lowest of fuse, dynamic limit and failsafe. */
export function limitInForce(p) {
  const candidates = [['fuse', p.fuse], ['dynamic limit', p.dynamicLimit], ['failsafe', typeof p.failsafe === 'number' ? p.failsafe : null]]
    .filter(([, v]) => typeof v === 'number');
  return candidates.reduce((a, b) => (b[1] < a[1] ? b : a));
}

/** `update(p, inForce)`: `inForce` is `[kind, amperes]`; a circuit passes its own, the installation's is derived from `p`. */
export function phaseBar(name) {
  const alloc = h('div', { class: 'bar-alloc' });
  const drawn = h('div', { class: 'bar-drawn' });
  const limit = h('div', { class: 'bar-limit' });
  const bar = h('div', { class: 'bar', role: 'img' }, alloc, drawn, limit);
  const nums = h('p', { class: 'phase-nums' });
  const more = h('div');
  const el = h('div', { class: 'phase', dataset: { phase: name } }, h('div', { class: 'phase-head' }, h('strong', {}, name), nums), bar, more);
  return {
    el,
    update(p, inForce = limitInForce(p)) {
      const [limitKind, limitValue] = inForce;
      const max = Math.max(p.fuse, p.measured, p.allocated ?? 0, limitValue) * 1.05 || 1;
      const pct = (v) => `${Math.max(0, Math.min(100, ((v ?? 0) / max) * 100))}%`;
      alloc.style.setProperty('width', pct(p.allocated));
      drawn.style.setProperty('width', pct(p.measured));
      limit.style.setProperty('left', pct(limitValue));
      Object.assign(el.dataset, { measured: String(p.measured), allocated: String(p.allocated ?? ''), limit: String(limitValue), fuse: String(p.fuse) });
      const text = `drawn ${amps(p.measured)} · allocated ${amps(p.allocated)} · limit ${amps(limitValue)} (${limitKind}) · fuse ${amps(p.fuse)}`;
      bar.setAttribute('aria-label', `${name}: ${text}`);
      nums.textContent = text;
      el.classList.toggle('over', p.measured > limitValue);
      replace(more, extras(p, KNOWN_PHASE));
    },
  };
}
