// The circuits below the installation's fuse, as an indented tree: each circuit's phase bars (the
// installation's own bar), its grid meter and failsafe, and the cards of the chargers wired to it.

import { amps, ago, h, replace, PHASES } from './dom.js';
import { phaseBar } from './phase-bar.js';

const METER_FAILSAFE_SOURCE = {
  configured: "the circuit's failsafe current",
  'lowest meter limit of the last hour': 'the lowest limit the meter gave in the last hour',
  'no reading: 0 A': 'no reading yet, so 0 A',
};

const wired = (c) => PHASES.filter((p) => typeof c.fuse[p] === 'number');
const perPhase = (v, phases) => phases.map((p) => `${p} ${amps(v?.[p])}`).join(' · ');

/** What sets a circuit's limit on a phase, in words (the balancer sends only the value). */
function limitKind(c, p, status) {
  const value = c.limits?.[p];
  if (typeof value !== 'number') return ['fuse', c.fuse[p]];
  if (c.meter?.failsafe) return ['meter failsafe', value];
  if (c.parentId === null && status.failsafe?.inForce && value === status.failsafe.current?.[p]) return ['failsafe', value];
  if (c.parentId === null && value === status.phases[p]?.dynamicLimit) return ['dynamic limit', value];
  if (c.meter?.otherLoad) return ['fuse less margin and other load', value];
  return [value < c.fuse[p] ? 'fuse less margin' : 'fuse', value];
}

/** The chargers' measured draw below a circuit (its sub-circuits included), per phase. */
function drawnBelow(id, byParent, circuits, chargers) {
  const out = { L1: 0, L2: 0, L3: 0 };
  const visit = (cid) => {
    const c = circuits.get(cid);
    for (const x of c?.chargerIds ?? []) for (const p of PHASES) out[p] += chargers.get(x)?.measured?.[p] ?? 0;
    for (const child of byParent.get(cid) ?? []) visit(child.id);
  };
  visit(id);
  for (const p of PHASES) out[p] = Math.round(out[p] * 1000) / 1000;
  return out;
}

function meterRows(m, phases) {
  if (!m) return null;
  return h('dl', { class: 'facts meter' },
    h('dt', {}, 'Meter'), h('dd', { class: 'meter-reading' }, m.reading ? `${perPhase(m.reading, phases)}${m.readingAt ? ` (${ago(m.readingAt)} ago)` : ''}` : 'no reading yet'),
    h('dt', {}, 'Other load'), h('dd', { class: 'other-load' }, m.otherLoad ? perPhase(m.otherLoad, phases) : '–'));
}

function meterFailsafeText(m, phases) {
  const f = m?.failsafe;
  if (!f) return null;
  const since = f.since ? ` since ${new Date(f.since).toLocaleTimeString()}` : '';
  return `Meter silent${since}: the chargers on this circuit share ${perPhase(f.current, phases)} (${METER_FAILSAFE_SOURCE[f.source] ?? f.source}).`;
}

function circuitNode(c) {
  const phases = wired(c);
  const bars = new Map(phases.map((p) => [p, phaseBar(p)]));
  const meter = h('div');
  // Kept, so a screen reader announces it once when it appears.
  const banner = h('p', { class: 'banner circuit-failsafe', role: 'alert', hidden: true });
  const cards = h('div', { class: 'cards' });
  const children = h('ul', { class: 'circuits' });
  const headingId = `circuit-${c.id}-h`;
  const el = h('li', { class: 'circuit', dataset: { circuit: c.id } },
    h('section', { class: 'circuit-body', 'aria-labelledby': headingId },
      h('h3', { id: headingId }, c.name, ' ', h('small', { class: 'muted' }, c.id)),
      h('p', { class: 'muted circuit-fuse' }, `fuse ${perPhase(c.fuse, phases)}`),
      banner, meter, [...bars.values()].map((b) => b.el), cards),
    children);
  return { el, phases, bars, meter, banner, cards, children };
}

/** The tree's shape: rebuilt only when a circuit is added, removed, renamed, moved or rewired. */
const shapeOf = (circuits) => JSON.stringify(circuits.map((c) => [c.id, c.name, c.parentId, c.fuse]));

export function circuitTree() {
  const el = h('ul', { class: 'circuits tree' });
  let shape = '';
  let nodes = new Map();
  return {
    el,
    /** Updates the bars and meters, and moves each charger's card (cards: id -> { el }) under its circuit. */
    update(status, cards) {
      const circuits = status.circuits ?? [];
      if (shapeOf(circuits) !== shape) {
        shape = shapeOf(circuits);
        nodes = new Map(circuits.map((c) => [c.id, circuitNode(c)]));
        replace(el, circuits.map((c) => {
          const parent = c.parentId === null ? undefined : nodes.get(c.parentId);
          if (parent) {
            parent.children.append(nodes.get(c.id).el);
            return null;
          }
          return nodes.get(c.id).el;
        }));
      }
      const byId = new Map(circuits.map((c) => [c.id, c]));
      const byParent = new Map();
      for (const c of circuits) byParent.set(c.parentId, [...(byParent.get(c.parentId) ?? []), c]);
      const chargers = new Map(status.chargers.map((c) => [c.id, c]));
      for (const c of circuits) {
        const node = nodes.get(c.id);
        const drawn = drawnBelow(c.id, byParent, byId, chargers);
        for (const [p, bar] of node.bars) bar.update({ fuse: c.fuse[p], measured: drawn[p], allocated: c.allocated?.[p] ?? null }, limitKind(c, p, status));
        replace(node.meter, meterRows(c.meter, node.phases));
        const warning = meterFailsafeText(c.meter, node.phases);
        node.banner.hidden = !warning;
        if (warning && node.banner.textContent !== warning) node.banner.textContent = warning;
        node.el.dataset.failsafe = String(!!warning);
        // Moved only when it is elsewhere, so a focused link inside a card keeps its focus.
        for (const id of c.chargerIds) {
          const card = cards.get(id);
          if (card && card.el.parentNode !== node.cards) node.cards.append(card.el);
        }
      }
    },
  };
}
