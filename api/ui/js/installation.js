// The installation page: live phase bars and chart, chargers, partner settings, fuse and OCPP forms.

import { api, enc } from './api.js';
import { ago, amps, h, plain, replace } from './dom.js';
import { apiForm, checkedOf, field, numberOrText, setStatus, valueOf } from './forms.js';
import { openLive } from './live.js';
import { phaseChart } from './plot.js';

const PHASES = ['L1', 'L2', 'L3'];
const KNOWN_STATUS = new Set(['installationId', 'at', 'dynamicLimitExpiresAt', 'balancerReachable', 'phases', 'chargers']);
const KNOWN_PHASE = new Set(['fuse', 'dynamicLimit', 'allocated', 'measured']);
const KNOWN_CHARGER = new Set(['id', 'connected', 'nodeId', 'lastSeen', 'connectors', 'currentLimit', 'measured', 'activeTransactions', 'reason']);
const STATE_TEXT = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', gone: 'not available' };

/** Fields the platform added after this page was written, shown as they come. */
function extras(obj, known) {
  const rows = Object.entries(obj ?? {}).filter(([k, v]) => !known.has(k) && v !== undefined);
  return rows.length ? h('dl', { class: 'extras' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, plain(v))])) : null;
}

function limitInForce(p) {
  const candidates = [['fuse', p.fuse], ['dynamic limit', p.dynamicLimit], ['failsafe', typeof p.failsafe === 'number' ? p.failsafe : null]]
    .filter(([, v]) => typeof v === 'number');
  return candidates.reduce((a, b) => (b[1] < a[1] ? b : a));
}

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
    update(p) {
      const [limitKind, limitValue] = limitInForce(p);
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

function wiringText(w) {
  if (!w) return 'wiring unknown';
  return w.phases === 1 ? `1-phase on ${w.gridPhase}` : `3-phase, ${w.phaseRotation}`;
}

export function chargerCard(installationId, id) {
  const state = h('span', { class: 'badge' });
  const wiring = h('span', { class: 'muted' });
  const body = h('div');
  const el = h('article', { class: 'charger card', dataset: { charger: id } },
    h('header', {}, h('h3', {}, h('a', { href: `#/i/${enc(installationId)}/c/${enc(id)}` }, id)), state), wiring, body);
  return {
    el,
    update(c, w, energyWh) {
      state.textContent = c.connected ? 'online' : 'offline';
      state.className = `badge ${c.connected ? 'ok' : 'bad'}`;
      wiring.textContent = `${wiringText(w)}${w ? ` · ${w.minCurrent}–${w.maxCurrent} A` : ''}`;
      const reason = c.reason !== undefined ? plain(c.reason) : c.connected ? '' : 'offline';
      const measured = c.measured ? PHASES.filter((p) => c.measured[p] !== 0).map((p) => `${p} ${amps(c.measured[p])}`).join(' · ') || '0 A' : '–';
      Object.assign(el.dataset, { limit: String(c.currentLimit ?? '') });
      replace(body,
        h('dl', { class: 'facts' },
          h('dt', {}, 'Limit'), h('dd', { class: 'limit' }, amps(c.currentLimit), reason ? h('span', { class: 'reason' }, ` — ${reason}`) : null),
          h('dt', {}, 'Drawn'), h('dd', {}, measured),
          h('dt', {}, 'Connectors'), h('dd', {}, c.connectors.length ? c.connectors.map((x) => h('span', { class: `conn conn-${x.status}` }, `#${x.connectorId} ${x.status}${x.errorCode && x.errorCode !== 'NoError' ? ` (${x.errorCode})` : ''}`)) : '–'),
          h('dt', {}, 'Session'), h('dd', {}, c.activeTransactions.length
            ? c.activeTransactions.map((t) => h('span', { class: 'tx' }, `#${t.transactionId} ${t.idTag} · ${ago(t.startedAt)}${typeof energyWh === 'number' ? ` · ${((energyWh - t.meterStartWh) / 1000).toFixed(2)} kWh` : ''}`))
            : 'none'),
          c.lastSeen ? [h('dt', {}, 'Last seen'), h('dd', {}, `${ago(c.lastSeen)} ago${c.nodeId ? ` on ${c.nodeId}` : ''}`)] : null),
        extras(c, KNOWN_CHARGER));
    },
  };
}

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
    h('dt', {}, 'Connection'), h('dd', { class: 'partner-state' }, 'per charger, when the platform reports it (see each charger)'));
}

export async function installationPage(main, id) {
  const inst = await api('GET', `/installations/${enc(id)}`);
  const liveState = h('span', { class: 'badge', role: 'status', 'aria-live': 'polite' }, STATE_TEXT.connecting);
  const updated = h('span', { class: 'muted' });
  const bars = PHASES.map(phaseBar);
  const meta = h('div', { class: 'meta' });
  const chartBox = h('div', { class: 'chart' });
  const chargerList = h('div', { class: 'cards' });
  const cards = new Map();
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
    h('section', { 'aria-labelledby': 'phases-h' }, h('h2', { id: 'phases-h' }, 'Phases'),
      h('p', { class: 'legend muted' }, h('span', { class: 'key drawn' }), ' drawn ', h('span', { class: 'key alloc' }), ' allocated ', h('span', { class: 'key limit' }), ' limit in force (fuse, dynamic limit or failsafe)'),
      bars.map((b) => b.el), meta),
    h('section', { 'aria-labelledby': 'chart-h' }, h('h2', { id: 'chart-h' }, 'Last hour'), chartBox),
    h('section', { 'aria-labelledby': 'chargers-h' }, h('h2', { id: 'chargers-h' }, 'Chargers'), chargerList),
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
      PHASES.forEach((p, i) => bars[i].update(status.phases[p]));
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
          chargerList.append(card.el);
        }
        card.update(c, wiring?.[c.id], energy?.[c.id]);
      }
      for (const [cid, card] of cards) {
        if (seen.has(cid)) continue;
        card.el.remove();
        cards.delete(cid);
      }
      if (!status.chargers.length) replace(chargerList, h('p', { class: 'muted' }, 'No chargers yet.'));
      else chargerList.querySelector(':scope > p')?.remove();
    },
  });
  return () => {
    live.close();
    chart.destroy();
  };
}
