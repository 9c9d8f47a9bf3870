// One server-sent-event stream per page, read with fetch so the token goes in the Authorization
// header (EventSource cannot send one, and a token in the URL would end up in logs). A dropped or
// ended stream is reopened with Last-Event-ID, so the server sends only what the page missed.

import { API_BASE, authHeader, enc, notifyUnauthorized } from './api.js';

const MAX_BACKOFF_MS = 30_000;

/** Splits a text/event-stream into events: { event, data, id }. */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const ev = { event: 'message', data: '', id: undefined, retry: undefined };
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') ev.event = val;
        else if (field === 'data') data.push(val);
        else if (field === 'id') ev.id = val;
        else if (field === 'retry' && /^\d+$/.test(val)) ev.retry = Number(val);
      }
      ev.data = data.join('\n');
      onEvent(ev);
    }
  }
}

/**
 * Opens the installation's live stream. Handlers: onHistory(samples), onStatus(message),
 * onState('connecting' | 'live' | 'reconnecting' | 'gone'). Returns { close }.
 */
export function openLive(installationId, handlers) {
  let lastId;
  let retryMs = 2_000;
  let backoff = retryMs;
  let stopped = false;
  let controller;
  let wake;

  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      handlers.onState(lastId ? 'reconnecting' : 'connecting');
      let failed = false;
      try {
        const res = await fetch(`${API_BASE}/installations/${enc(installationId)}/live`, {
          headers: { ...authHeader(), accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) },
          cache: 'no-store',
          signal: controller.signal,
        });
        if (res.status === 401) return notifyUnauthorized();
        if (res.status === 404) return handlers.onState('gone');
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        let gone = false;
        await readEvents(res.body, (ev) => {
          if (ev.retry !== undefined) retryMs = ev.retry;
          if (ev.event === 'history') {
            handlers.onState('live');
            backoff = retryMs;
            handlers.onHistory(JSON.parse(ev.data).samples);
          } else if (ev.event === 'status') {
            if (ev.id) lastId = ev.id;
            handlers.onStatus(JSON.parse(ev.data));
          } else if (ev.event === 'gone') gone = true;
        });
        if (gone) return handlers.onState('gone');
      } catch {
        failed = true;
      }
      if (stopped) return;
      handlers.onState('reconnecting');
      // Jitter, so that pages dropped together by a restart do not all come back at once.
      await new Promise((r) => {
        wake = r;
        setTimeout(r, backoff * (0.75 + Math.random() / 2));
      });
      // Each failure in a row doubles the wait; a stream that was live starts again from `retry`.
      if (failed) backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  };
  void run();
  return {
    close() {
      stopped = true;
      controller?.abort();
      wake?.();
    },
  };
}
