// A charger's live card (installation page and charger page): wiring, connectors, the limit it was
// given and why, what the balancer counts it at and why, the partner connection, drawn current and
// the running session.

import { enc } from './api.js';
import { ago, amps, h, plain, replace, PHASES } from './dom.js';

const KNOWN_CHARGER = new Set(['id', 'connected', 'nodeId', 'lastSeen', 'connectors', 'currentLimit', 'limitReason', 'countedA', 'countedBecause', 'measured', 'activeTransactions', 'partner']);

/** What each basis of the balancer's count means, for an installer. */
const COUNTED_WHY = {
  limit: 'its accepted limit',
  'raise in flight': 'a raise is on its way: counted at the higher value until the charger answers',
  'over limit: draw': 'it draws more than its limit: counted at what it draws',
  'offline: last limit': 'offline: it keeps charging at its last accepted limit (OCPP profiles persist)',
  'offline: max': 'offline and no limit was ever accepted: counted at its maximum',
  failsafe: 'offline: counted at its own failsafe current, which it uses after its timeout',
};

const PARTNER_TEXT = {
  offline: 'not connected',
  connecting: 'connecting…',
  connected: 'connected',
  pending: 'boot pending at the partner',
  rejected: 'rejected by the partner',
  backoff: 'backing off',
  'given-up': 'given up',
  unknown: 'unknown',
};
const PARTNER_BADGE = { connected: 'ok', connecting: 'warn', pending: 'warn', backoff: 'bad', rejected: 'bad', 'given-up': 'bad', offline: 'bad', unknown: 'warn' };

const clock = (iso) => new Date(iso).toLocaleTimeString();

/** Fields the platform added after this page was written, shown as they come. */
export function extras(obj, known) {
  const rows = Object.entries(obj ?? {}).filter(([k, v]) => !known.has(k) && v !== undefined);
  return rows.length ? h('dl', { class: 'extras' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, plain(v))])) : null;
}

/** The partner connection's details in words (the badge names the state): since, why, next try, node. */
export function partnerDetail(p) {
  const parts = [];
  if (p.state === 'connected' && p.since) parts.push(`since ${clock(p.since)} (${ago(p.since)})`);
  if (p.reason) parts.push(p.reason);
  if (p.retryAt) parts.push(`next try ${clock(p.retryAt)}`);
  if (p.attempt) parts.push(`attempt ${p.attempt}`);
  if (p.nodeId) parts.push(`on ${p.nodeId}`);
  return parts.join(' · ');
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
    update(c, w, energyWh, circuit) {
      state.textContent = c.connected ? 'online' : 'offline';
      state.className = `badge ${c.connected ? 'ok' : 'bad'}`;
      wiring.textContent = `${wiringText(w)}${w ? ` · ${w.minCurrent}–${w.maxCurrent} A` : ''}`;
      const reason = c.limitReason ?? (c.connected ? '' : 'offline');
      const measured = c.measured ? PHASES.filter((p) => c.measured[p] !== 0).map((p) => `${p} ${amps(c.measured[p])}`).join(' · ') || '0 A' : '–';
      const partner = c.partner && c.partner.state !== 'disabled' ? c.partner : null;
      Object.assign(el.dataset, { limit: String(c.currentLimit ?? ''), countedBecause: c.countedBecause ?? '', partnerState: partner?.state ?? 'disabled' });
      replace(body,
        h('dl', { class: 'facts' },
          circuit ? [h('dt', {}, 'Circuit'), h('dd', { class: 'circuit' }, `${circuit.name} (${circuit.id})`)] : null,
          h('dt', {}, 'Limit'), h('dd', { class: 'limit' }, amps(c.currentLimit), reason ? h('span', { class: 'reason' }, ` — ${reason}`) : null),
          c.countedBecause
            ? [h('dt', {}, 'Counted'), h('dd', { class: 'counted' }, `${amps(c.countedA)} — ${c.countedBecause}`,
                COUNTED_WHY[c.countedBecause] ? h('span', { class: 'why' }, COUNTED_WHY[c.countedBecause]) : null)]
            : null,
          partner
            ? [h('dt', {}, 'Partner'), h('dd', { class: 'partner' }, h('span', { class: `badge ${PARTNER_BADGE[partner.state] ?? 'warn'}` }, PARTNER_TEXT[partner.state] ?? partner.state),
                h('span', { class: 'why' }, partnerDetail(partner)))]
            : null,
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
