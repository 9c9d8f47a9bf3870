// Routing (#/login, #/, #/i/<id>, #/i/<id>/c/<chargerId>) and the login and list pages.

import { api, enc, onUnauthorized, session } from './api.js';
import { h, replace } from './dom.js';
import { chargerPage } from './charger.js';
import { field, showError, valueOf } from './forms.js';
import { installationPage } from './installation.js';

const main = document.getElementById('main');
const logout = document.getElementById('logout');
let cleanup = () => undefined;
let navigation = 0;

function loginPage() {
  const form = h('form', { class: 'login card', novalidate: true, 'aria-label': 'Log in' },
    h('h1', { tabindex: '-1' }, 'Log in'),
    h('p', {}, 'Paste your API token (admin or installer). It is kept in this browser tab only, until you log out or close the tab.'),
    field({ label: 'API token', name: 'token', type: 'password', autocomplete: 'current-password' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Log in'), h('span', { class: 'form-status', role: 'status' })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = valueOf(form, 'token').trim();
    session.set(token);
    try {
      await api('GET', '/installations?limit=1');
      location.hash = '#/';
    } catch (err) {
      session.clear();
      showError(form, { field: 'token', message: err.status === 401 ? 'This token is not valid.' : err.message });
    }
  });
  replace(main, form);
  form.querySelector('input').focus();
  return () => undefined;
}

async function listPage() {
  const items = [];
  let after;
  do {
    const page = await api('GET', `/installations?limit=1000${after ? `&after=${enc(after)}` : ''}`);
    items.push(...page.items);
    after = page.next;
  } while (after);
  const title = h('h1', { tabindex: '-1' }, 'Installations');
  replace(main, title,
    items.length
      ? h('ul', { class: 'cards installations' }, items.map((i) => h('li', { class: 'card', dataset: { installation: i.id } },
        h('h2', {}, h('a', { href: `#/i/${enc(i.id)}` }, i.name)),
        h('p', { class: 'muted' }, i.id),
        h('p', {}, `Fuse ${i.fuse.L1} / ${i.fuse.L2} / ${i.fuse.L3} A`, i.ocpp.partnerEnabled ? ' · partner OCPP on' : ''))))
      : h('p', {}, 'No installations in this token\'s scope.'));
  title.focus();
  return () => undefined;
}

function notFound(message) {
  const title = h('h1', { tabindex: '-1' }, 'Not found');
  replace(main, title, h('p', {}, message), h('p', {}, h('a', { href: '#/' }, 'Back to the installations')));
  title.focus();
}

async function route() {
  cleanup();
  cleanup = () => undefined;
  const nav = ++navigation;
  const hash = location.hash.replace(/^#/, '') || '/';
  const loggedIn = !!session.token();
  logout.hidden = !loggedIn;
  if (!loggedIn && hash !== '/login') {
    location.hash = '#/login';
    return;
  }
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  document.body.dataset.page = parts[0] === 'i' ? (parts[2] === 'c' ? 'charger' : 'installation') : parts[0] ?? 'list';
  try {
    let done = () => undefined;
    if (parts[0] === 'login') done = loginPage();
    else if (parts.length === 0) done = await listPage();
    else if (parts[0] === 'i' && parts.length === 2) done = await installationPage(main, parts[1]);
    else if (parts[0] === 'i' && parts[2] === 'c' && parts.length === 4) done = await chargerPage(main, parts[1], parts[3]);
    else notFound('There is no such page.');
    // A page that finished loading after the user went elsewhere closes its stream at once.
    if (nav === navigation) cleanup = done;
    else done();
  } catch (err) {
    if (nav !== navigation) return;
    if (err.status === 404) notFound(err.message);
    else if (err.status !== 401) replace(main, h('p', { class: 'error', role: 'alert' }, err.message));
  }
}

onUnauthorized(() => {
  session.clear();
  location.hash = '#/login';
});
logout.addEventListener('click', () => {
  session.clear();
  location.hash = '#/login';
});
window.addEventListener('hashchange', () => void route());
void route();
