// A charger's page: settings (PUT replaces the record, so the form sends every field), 24 h verbose
// logging, its OCPP message log and its transactions.

import { api, enc } from './api.js';
import { h, plain, replace, table, time } from './dom.js';
import { apiForm, checkedOf, field, numberOrText, setStatus, showError, valueOf } from './forms.js';
import { chargerCard } from './charger-card.js';
import { openLive } from './live.js';

const ROTATIONS = ['L1L2L3', 'L2L3L1', 'L3L1L2', 'L1L3L2', 'L3L2L1', 'L2L1L3'];

/** The writable part of a charger record, for a PUT that changes only what the form changed. */
function writable(c) {
  const ocpp = { webSocketPing: c.ocpp.webSocketPing, ...(c.ocpp.url ? { url: c.ocpp.url } : {}) };
  const { serial, phases, phaseRotation, gridPhase, minCurrent, maxCurrent, priority, profilePurpose, ocppValidation } = c;
  return { serial, phases, phaseRotation, gridPhase, minCurrent, maxCurrent, priority, profilePurpose, ocppValidation, ocpp };
}

function settingsForm(c, path, onSaved) {
  return apiForm({
    title: 'Charger settings',
    fields: [
      h('div', { class: 'row3' },
        field({ label: 'Phases', name: 'phases', value: c.phases, options: [1, 3] }),
        field({ label: 'Phase rotation (3-phase)', name: 'phaseRotation', value: c.phaseRotation, options: ROTATIONS }),
        field({ label: 'Grid phase (1-phase)', name: 'gridPhase', value: c.gridPhase, options: ['L1', 'L2', 'L3'] })),
      h('div', { class: 'row3' },
        field({ label: 'Minimum (A)', name: 'minCurrent', value: c.minCurrent, inputmode: 'decimal' }),
        field({ label: 'Maximum (A)', name: 'maxCurrent', value: c.maxCurrent, inputmode: 'decimal' }),
        field({ label: 'Priority', name: 'priority', value: c.priority, inputmode: 'numeric' })),
      h('div', { class: 'row3' },
        field({ label: 'Serial (partner {deviceId})', name: 'serial', value: c.serial }),
        field({ label: 'Profile purpose', name: 'profilePurpose', value: c.profilePurpose, options: ['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'] }),
        field({ label: 'OCPP validation', name: 'ocppValidation', value: c.ocppValidation, options: ['strict', 'lenient'] })),
      field({ label: 'Partner URL for this charger', name: 'ocpp.url', value: c.ocpp.url ?? '', hint: 'Overrides the installation\'s template; empty uses it' }),
      field({ label: `Partner password (${c.ocpp.hasPassword ? 'set' : 'not set'})`, name: 'ocpp.password', type: 'password', autocomplete: 'new-password', hint: 'Write-only: leave empty to keep it' }),
      field({ label: 'WebSocket ping towards the partner', name: 'ocpp.webSocketPing', type: 'checkbox', checked: c.ocpp.webSocketPing }),
    ],
    submit: async (form) => {
      const url = valueOf(form, 'ocpp.url').trim();
      const password = valueOf(form, 'ocpp.password');
      const body = {
        serial: valueOf(form, 'serial'),
        phases: Number(valueOf(form, 'phases')),
        phaseRotation: valueOf(form, 'phaseRotation'),
        gridPhase: valueOf(form, 'gridPhase'),
        minCurrent: numberOrText(valueOf(form, 'minCurrent')),
        maxCurrent: numberOrText(valueOf(form, 'maxCurrent')),
        priority: numberOrText(valueOf(form, 'priority')),
        profilePurpose: valueOf(form, 'profilePurpose'),
        ocppValidation: valueOf(form, 'ocppValidation'),
        ocpp: { webSocketPing: checkedOf(form, 'ocpp.webSocketPing'), ...(url ? { url } : {}), ...(password ? { password } : {}) },
      };
      onSaved(await api('PUT', path, body));
    },
  });
}

function verboseControl(c, path, onSaved) {
  const until = c.ocpp.verboseLoggingUntil;
  const on = !!until && Date.parse(until) > Date.now();
  const form = h('form', { 'aria-label': 'Verbose logging' },
    h('h3', {}, 'Verbose OCPP logging'),
    h('p', {}, on ? `On until ${time(until)}: Heartbeat and MeterValues are logged too.` : 'Off: Heartbeat and MeterValues are left out of the log.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', name: 'verbose' }, on ? 'Turn verbose logging off' : 'Log everything for 24 h'), h('span', { class: 'form-status', role: 'status' })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const body = writable(c);
      body.ocpp.verboseLogging = !on;
      onSaved(await api('PUT', path, body));
    } catch (err) {
      showError(form, err);
    }
  });
  return form;
}

function logTable(items) {
  if (!items.length) return h('p', { class: 'muted' }, 'No messages logged.');
  return table('OCPP messages, oldest first', ['Time', 'Action', 'Type', 'Dir', 'Payload'],
    items.map((m) => h('tr', { dataset: { action: m.action ?? '' } },
      h('td', {}, time(m.at)), h('td', {}, m.action ?? ''), h('td', {}, m.type), h('td', {}, m.direction === 'in' ? '← in' : '→ out'),
      h('td', {}, h('details', {}, h('summary', {}, plain(m.payload).slice(0, 60)), h('pre', {}, JSON.stringify(m.payload, null, 2)))))));
}

function txTable(items) {
  if (!items.length) return h('p', { class: 'muted' }, 'No transactions.');
  return table('Transactions', ['Id', 'Connector', 'Id tag', 'Started', 'Stopped', 'Energy', 'Reason'],
    items.map((t) => h('tr', {},
      h('td', {}, t.transactionId), h('td', {}, t.connectorId), h('td', {}, t.idTag), h('td', {}, time(t.startedAt)),
      h('td', {}, t.stoppedAt ? time(t.stoppedAt) : 'running'), h('td', {}, typeof t.energyWh === 'number' ? `${(t.energyWh / 1000).toFixed(2)} kWh` : '–'), h('td', {}, t.stopReason ?? ''))));
}

export async function chargerPage(main, installationId, chargerId) {
  const path = `/installations/${enc(installationId)}/chargers/${enc(chargerId)}`;
  let charger = await api('GET', path);
  const title = h('h1', { tabindex: '-1' }, chargerId, ' ', h('small', {}, installationId));
  const liveState = h('span', { class: 'badge', role: 'status' }, 'connecting…');
  const card = chargerCard(installationId, chargerId);
  const forms = h('div', { class: 'forms' });
  const log = h('div');
  const txs = h('div');
  const render = () => replace(forms, settingsForm(charger, path, (c) => saved(c, 'Charger settings')), verboseControl(charger, path, (c) => saved(c, 'Verbose logging')));
  /** Both forms show the record as saved; the one that saved says so (and keeps the keyboard focus). */
  function saved(c, formName) {
    charger = c;
    render();
    const form = forms.querySelector(`form[aria-label="${formName}"]`);
    setStatus(form, 'Saved');
    form.querySelector('button[type=submit]').focus();
  }
  const loadLog = async () => replace(log, logTable((await api('GET', `/chargers/${enc(chargerId)}/ocpp-log?limit=100`)).items));
  const loadTx = async () => replace(txs, txTable((await api('GET', `/chargers/${enc(chargerId)}/transactions?limit=50`)).items));

  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Installations'), ' / ', h('a', { href: `#/i/${enc(installationId)}` }, installationId), ' / ', chargerId),
    h('div', { class: 'title' }, title, liveState),
    h('section', { 'aria-labelledby': 'now-h' }, h('h2', { id: 'now-h' }, 'Now'), h('div', { class: 'cards' }, card.el)),
    h('section', { 'aria-labelledby': 'cs-h' }, h('h2', { id: 'cs-h' }, 'Settings'), forms),
    h('section', { 'aria-labelledby': 'log-h' }, h('div', { class: 'section-head' }, h('h2', { id: 'log-h' }, 'OCPP log'), h('button', { type: 'button', onclick: () => void loadLog() }, 'Refresh log')), log),
    h('section', { 'aria-labelledby': 'tx-h' }, h('div', { class: 'section-head' }, h('h2', { id: 'tx-h' }, 'Transactions'), h('button', { type: 'button', onclick: () => void loadTx() }, 'Refresh transactions')), txs));
  render();
  title.focus();
  // The installation's stream, of which this page shows the one charger.
  const live = openLive(installationId, {
    onState: (s) => {
      liveState.textContent = s === 'live' ? 'live' : s === 'gone' ? 'not available' : `${s}…`;
      liveState.className = `badge ${s === 'live' ? 'ok' : s === 'gone' ? 'bad' : 'warn'}`;
      main.dataset.live = s;
    },
    onHistory: () => undefined,
    onStatus: ({ status, wiring, energy }) => {
      const c = status.chargers.find((x) => x.id === chargerId);
      // Off the installation page the card says which circuit the charger hangs on (there the tree does).
      const circuit = status.circuits?.find((x) => x.chargerIds.includes(chargerId));
      if (c) card.update(c, wiring?.[chargerId], energy?.[chargerId], circuit);
    },
  });
  try {
    await Promise.all([loadLog(), loadTx()]);
  } catch (err) {
    live.close();
    throw err;
  }
  return () => live.close();
}
