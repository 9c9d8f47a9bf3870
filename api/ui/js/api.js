// The API client: the token lives in sessionStorage only (gone when the tab closes).

const KEY = 'charging-dashboard.token';
/** Relative to the page, so the dashboard also works behind a proxy that adds a path prefix. */
export const API_BASE = new URL('../api/v1', document.baseURI).pathname;

export const session = {
  token: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.field = body?.error?.field;
  }
}

let unauthorized = () => undefined;
/** What to do when the token is refused (set by main.js: back to the login page). */
export const onUnauthorized = (fn) => (unauthorized = fn);
export const notifyUnauthorized = () => unauthorized();

export const authHeader = () => ({ authorization: `Bearer ${session.token() ?? ''}` });

export async function api(method, path, body) {
  const res = await fetch(API_BASE + path, {
    method,
    cache: 'no-store',
    headers: { ...authHeader(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const data = res.status === 204 ? undefined : await res.json().catch(() => undefined);
  if (!res.ok) {
    if (res.status === 401) unauthorized();
    throw new ApiError(res.status, data);
  }
  return data;
}

export const enc = encodeURIComponent;
