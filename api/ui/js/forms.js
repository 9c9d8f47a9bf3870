// Form fields named by the API's field path (`fuse.L1`, `ocpp.url`), so a 400's `field` finds its input
// and the API's own message is shown next to it.

import { h } from './dom.js';

let counter = 0;

/** A labelled input (or select, or checkbox) with a place for its error message. */
export function field({ label, name, value = '', type = 'text', hint, options, checked, placeholder, autocomplete, inputmode }) {
  const id = `f${++counter}`;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ');
  let input;
  if (options) {
    input = h('select', { id, name, 'aria-describedby': describedBy }, options.map((o) => h('option', { value: o, selected: String(o) === String(value) }, o)));
  } else if (type === 'checkbox') {
    input = h('input', { id, name, type, checked: !!checked, 'aria-describedby': describedBy });
  } else {
    input = h('input', { id, name, type, value: value ?? '', placeholder, autocomplete: autocomplete ?? 'off', inputmode, 'aria-describedby': describedBy });
  }
  const wrap = type === 'checkbox'
    ? h('div', { class: 'field check' }, input, h('label', { for: id }, label))
    : h('div', { class: 'field' }, h('label', { for: id }, label), input);
  if (hint) wrap.append(h('p', { class: 'hint', id: hintId }, hint));
  wrap.append(h('p', { class: 'error', id: errorId, hidden: true, dataset: { errorFor: name } }));
  return wrap;
}

/** A number typed as a number goes as a number; anything else ("63 A") goes as text for the API to judge. */
export function numberOrText(v) {
  const t = String(v).trim();
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll('p.error')) {
    p.hidden = true;
    p.textContent = '';
  }
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  const status = form.querySelector('.form-status');
  if (status) status.textContent = '';
}

/** Shows an API error at its field (or the nearest enclosing one), else under the form; focuses the field. */
export function showError(form, err) {
  let path = err.field;
  while (path) {
    const input = form.elements.namedItem(path);
    const slot = form.querySelector(`p.error[data-error-for="${CSS.escape(path)}"]`);
    if (input && slot) {
      slot.textContent = err.message;
      slot.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
  }
  setStatus(form, err.field ? `${err.field}: ${err.message}` : err.message, 'bad');
}

export function setStatus(form, text, kind = 'ok') {
  const status = form.querySelector('.form-status');
  status.textContent = text;
  status.className = `form-status ${kind}`;
}

/** A form that calls `submit(form)`; errors from the API land next to their fields. */
export function apiForm({ title, fields, submitLabel = 'Save', submit, extra }) {
  const form = h('form', { novalidate: true, 'aria-label': title },
    h('h3', {}, title), fields, extra,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, submitLabel), h('span', { class: 'form-status', role: 'status', 'aria-live': 'polite' })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      // On success the page renders the saved record (a new form) and says so there.
      await submit(form);
    } catch (err) {
      showError(form, err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export const valueOf = (form, name) => form.elements.namedItem(name)?.value ?? '';
export const checkedOf = (form, name) => !!form.elements.namedItem(name)?.checked;
