// The installation page: live phase bars and chart, chargers, partner settings, fuse and OCPP forms.

import { api, enc } from './api.js';
import { amps, h, replace, PHASES } from './dom.js';
import { circuitTree } from './circuits.js';
import { phaseBar } from './phase-bar.js';
import { chargerCard, extras } from './charger-card.js';
import { apiForm, checkedOf, field, numberOrText, setStatus, valueOf } from './forms.js';
import { openLive } from './live.js';
import { phaseChart } from './plot.js';

// The page's phase bar, also for the tests that drive it alone.
export { phaseBar };

const KNOWN_STATUS = new Set(['installationId', 'at', 'dynamicLimitExpiresAt', 'balancerReachable', 'failsafe', 'balancerNodeId', 'phases', 'chargers', 'circuits']);
const FAILSAFE_SOURCE = {
  configured: "the installation's failsafe current",
  'lowest dynamic limit of the last hour': 'the lowest dynamic limit of the last hour',
  'fuse dedicated to chargers': 'the fuse (dedicated to the chargers)',
};
const STATE_TEXT = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', gone: 'not available' };

function fuseForm(inst, onSaved) {
  return apiForm({
    title: 'Fuse',
    fields: h('div', { class: 'row3' }, PHASES.map((p) => field({ label: `${p} (A)`, name: `fuse.${p}`, value: inst.fuse[p], inputmode: 'decimal', hint: p === 'L1' ? 'A number, or with a unit: "63 A"' : undefined }))),
    submit: async (form) => {
      const fuse = Object.fromEntries(PHASES.map((p) => [p, numberOrText(valueOf(form, `fuse.${p}`))]));
      onSaved(await api('PATCH', `/installations/${enc(inst.id)}`, { fuse }));
    },
  });
}

function partnerForm(inst, onSaved) {
  const o = inst.ocpp;
  return apiForm({
    title: 'Partner OCPP (OCPP authorization)',
    fields: [
      field({ label: 'Authorize and report at a partner Central System', name: 'ocpp.partnerEnabled', type: 'checkbox', checked: o.partnerEnabled }),
      field({ label: 'Partner URL', name: 'ocpp.url', value: o.url ?? '', placeholder: 'wss://partner.example/ocpp/{deviceId}', hint: 'Must contain {deviceId}; empty removes it' }),
      field({ label: 'Default id tag', name: 'ocpp.defaultIdTag', value: o.defaultIdTag ?? '' }),
      field({ label: `Initial partner password (${o.hasInitialPassword ? 'set' : 'not set'})`, name: 'ocpp.initialPassword', type: 'password', autocomplete: 'new-password', hint: 'Write-only: leave empty to keep it' }),
    ],
    submit: async (form) => {
      const url = valueOf(form, 'ocpp.url').trim();
      const password = valueOf(form, 'ocpp.initialPassword');
      const ocpp = { partnerEnabled: checkedOf(form, 'ocpp.partnerEnabled'), url: url === '' ? null : url, defaultIdTag: valueOf(form, 'ocpp.defaultIdTag') };
      if (password !== '') ocpp.initialPassword = password;
      onSaved(await api('PATCH', `/installations/${enc(inst.id)}`, { ocpp }));
    },
  });
}

function partnerSummary(inst) {
  const o = inst.ocpp;
  if (!o.partnerEnabled) return h('p', {}, 'Off: chargers are authorized here (', inst.authorization.required ? `${inst.authorization.idTags.length} allowed id tags` : 'free charging', ').');
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Partner'), h('dd', {}, o.url ?? 'no URL set'),
    h('dt', {}, 'Initial password'), h('dd', {}, o.hasInitialPassword ? 'set' : 'not set'),
    h('dt', {}, 'Connection'), h('dd', { class: 'partner-state' }, 'waiting for the live status…'));
}

/** How many chargers are connected to the partner, and how many are not, from the live status. */
function partnerCount(chargers) {
  const states = chargers.map((c) => c.partner?.state).filter((s) => s && s !== 'disabled');
  if (!states.length) return null;
  const connected = states.filter((s) => s === 'connected').length;
  return `${connected} of ${states.length} charger${states.length === 1 ? '' : 's'} connected to the partner${connected < states.length ? ' (see each charger for why)' : ''}`;
}

/** The failsafe banner's text, or null when no failsafe is in force. */
function failsafeText(f) {
  if (!f?.inForce) return null;
  const current = f.current ? PHASES.map((p) => `${p} ${amps(f.current[p])}`).join(' · ') : 'unknown';
  const since = f.since ? ` since ${new Date(f.since).toLocaleTimeString()}` : '';
  return `Failsafe in force${since}: the energy manager's dynamic limit expired, so the chargers share ${current} (${FAILSAFE_SOURCE[f.source] ?? f.source ?? 'failsafe'}, never more than the fuse).`;
}

export async function installationPage(main, id) {
  const inst = await api('GET', `/installations/${enc(id)}`);
  const liveState = h('span', { class: 'badge', role: 'status', 'aria-live': 'polite' }, STATE_TEXT.connecting);
  const updated = h('span', { class: 'muted' });
  const bars = PHASES.map(phaseBar);
  const meta = h('div', { class: 'meta' });
  // Kept (not re-rendered) so a screen reader announces it once when it appears.
  const banner = h('p', { class: 'banner failsafe', role: 'alert', hidden: true });
  const chartBox = h('div', { class: 'chart' });
  const chargerList = h('div', { class: 'cards' });
  const cards = new Map();
  const tree = circuitTree();
  const chargersSection = h('section', { 'aria-labelledby': 'chargers-h' }, h('h2', { id: 'chargers-h' }, 'Chargers'), chargerList);
  // Shown instead of the flat list while the installation has circuits: each card under its circuit.
  const circuitsSection = h('section', { 'aria-labelledby': 'circuits-h', class: 'circuits-section', hidden: true },
    h('h2', { id: 'circuits-h' }, 'Circuits and chargers'),
    h('p', { class: 'legend muted' }, 'Each circuit below the fuse: drawn by its chargers, allocated to them, and the limit in force for them.'),
    tree.el);
  const title = h('h1', { tabindex: '-1' }, inst.name, ' ', h('small', {}, inst.id));
  const partner = h('section', { 'aria-labelledby': 'partner-h' }, h('h2', { id: 'partner-h' }, 'Partner OCPP'), partnerSummary(inst));
  const settings = h('div', { class: 'forms' });
  const renderSettings = (i) => replace(settings, fuseForm(i, (x) => saved(x, 'Fuse')), partnerForm(i, (x) => saved(x, 'Partner OCPP (OCPP authorization)')));
  /** Both forms and the summary show the record as saved; the form that saved says so and keeps the focus. */
  function saved(i, formName) {
    replace(partner, h('h2', { id: 'partner-h' }, 'Partner OCPP'), partnerSummary(i));
    renderSettings(i);
    const form = settings.querySelector(`form[aria-label="${formName}"]`);
    setStatus(form, 'Saved');
    form.querySelector('button[type=submit]').focus();
  }

  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Installations'), ' / ', inst.id),
    h('div', { class: 'title' }, title, liveState, updated),
    banner,
    h('section', { 'aria-labelledby': 'phases-h' }, h('h2', { id: 'phases-h' }, 'Phases'),
      h('p', { class: 'legend muted' }, h('span', { class: 'key drawn' }), ' drawn ', h('span', { class: 'key alloc' }), ' allocated ', h('span', { class: 'key limit' }), ' limit in force (fuse, dynamic limit or failsafe)'),
      bars.map((b) => b.el), meta),
    h('section', { 'aria-labelledby': 'chart-h' }, h('h2', { id: 'chart-h' }, 'Last hour'), chartBox),
    chargersSection,
    circuitsSection,
    partner,
    h('section', { 'aria-labelledby': 'settings-h' }, h('h2', { id: 'settings-h' }, 'Settings'), settings));
  renderSettings(inst);
  title.focus();

  const chart = phaseChart(chartBox);
  const live = openLive(id, {
    onState: (s) => {
      liveState.textContent = STATE_TEXT[s] ?? s;
      liveState.className = `badge ${s === 'live' ? 'ok' : s === 'gone' ? 'bad' : 'warn'}`;
      main.dataset.live = s;
    },
    onHistory: (samples) => chart.add(samples),
    onStatus: ({ status, wiring, sample, energy }) => {
      chart.add([sample]);
      const failsafe = status.failsafe?.inForce ? status.failsafe.current : null;
      PHASES.forEach((p, i) => bars[i].update(failsafe ? { ...status.phases[p], failsafe: failsafe[p] } : status.phases[p]));
      const warning = failsafeText(status.failsafe);
      banner.hidden = !warning;
      if (warning && banner.textContent !== warning) banner.textContent = warning;
      main.dataset.failsafe = String(!!warning);
      const count = partnerCount(status.chargers);
      const partnerState = partner.querySelector('.partner-state');
      if (partnerState && count) partnerState.textContent = count;
      updated.textContent = `updated ${new Date(status.at).toLocaleTimeString()}`;
      replace(meta,
        status.balancerReachable ? null : h('p', { class: 'warn-text' }, 'The balancer did not answer: allocations unknown.'),
        status.dynamicLimitExpiresAt ? h('p', { class: 'muted' }, `Dynamic limit in force until ${new Date(status.dynamicLimitExpiresAt).toLocaleString()}`) : null,
        extras(status, KNOWN_STATUS));
      const seen = new Set();
      for (const c of status.chargers) {
        seen.add(c.id);
        let card = cards.get(c.id);
        if (!card) {
          card = chargerCard(id, c.id);
          cards.set(c.id, card);
        }
        if (!status.circuits?.length && card.el.parentNode !== chargerList) chargerList.append(card.el);
        card.update(c, wiring?.[c.id], energy?.[c.id]);
      }
      for (const [cid, card] of cards) {
        if (seen.has(cid)) continue;
        card.el.remove();
        cards.delete(cid);
      }
      const withCircuits = !!status.circuits?.length;
      chargersSection.hidden = withCircuits;
      circuitsSection.hidden = !withCircuits;
      if (withCircuits) tree.update(status, cards);
      if (!status.chargers.length) replace(chargerList, h('p', { class: 'muted' }, 'No chargers yet.'));
      else chargerList.querySelector(':scope > p')?.remove();
    },
  });
  return () => {
    live.close();
    chart.destroy();
  };
}
