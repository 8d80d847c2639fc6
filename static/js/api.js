// HTTP helpers: every request of the pages goes through `request` here, which adds
// the API token as `Authorization: Bearer`; error envelopes become ApiError.
//
// The token is taken once from `?token=` in the page's address, then removed from
// the address bar and history (it must not stay in bookmarks, screenshots or the
// history list) and kept in sessionStorage: it survives reloads and the link to
// the admin page in this tab, and is gone when the tab closes. Browsers cannot set
// headers on a WebSocket, so the live feed alone carries it as `?token=`.

const TOKEN_KEY = 'switchboard.apiToken';

/** Moves a `?token=` of the page's address into sessionStorage, once, at load. */
function adoptUrlToken() {
  let url;
  try {
    url = new URL(window.location.href);
  } catch {
    return;
  }
  const fromUrl = url.searchParams.get('token');
  // Earlier versions kept the token in localStorage: move it to this tab only.
  try {
    const old = window.localStorage.getItem(TOKEN_KEY);
    if (old) {
      window.localStorage.removeItem(TOKEN_KEY);
      if (!window.sessionStorage.getItem(TOKEN_KEY)) window.sessionStorage.setItem(TOKEN_KEY, old);
    }
  } catch { /* storage disabled */ }
  if (fromUrl === null) return;
  try {
    if (fromUrl) window.sessionStorage.setItem(TOKEN_KEY, fromUrl);
  } catch { /* storage disabled: the token lives as long as this page */ }
  memoryToken = fromUrl;
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
}

/** The token when storage is disabled. */
let memoryToken = '';

/** The API token, or '' when none was given. */
export function apiToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) || memoryToken;
  } catch {
    return memoryToken;
  }
}

adoptUrlToken();

/** A failed API call: HTTP status (0 when unreachable), error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function headers(json) {
  const h = { Accept: json ? 'application/json' : 'text/plain' };
  const token = apiToken();
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function request(path, { method = 'GET', body, timeoutMs = 30000, json = true } = {}) {
  const h = headers(json);
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    return await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: ctrl.signal,
    });
  } catch (e) {
    if (e && e.name === 'AbortError') {
      throw new ApiError(0, 'TIMEOUT', `no answer within ${Math.round(timeoutMs / 1000)} s`);
    }
    throw new ApiError(0, 'UNREACHABLE', 'the switchboard service cannot be reached');
  } finally {
    clearTimeout(timer);
  }
}

/** What to do about a 401, depending on whether a token was given. */
export function tokenAdvice() {
  return apiToken()
    ? 'This board\'s access token was refused: open it once as /?token=… with the current token.'
    : 'This board needs its access token: open it once as /?token=…';
}

function explain(status, code, message) {
  if (status === 401) return new ApiError(status, code || 'UNAUTHORIZED', tokenAdvice());
  return new ApiError(status, code || `HTTP_${status}`, message || `the service answered HTTP ${status}`);
}

/** Calls a JSON endpoint; resolves to the whole `{success, ...}` body. */
export async function api(path, options = {}) {
  const res = await request(path, options);
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok || !body || body.success === false) {
    const err = (body && body.error) || {};
    throw explain(res.status, err.code, err.message);
  }
  return body;
}

/** Fetches a plain-text endpoint (e.g. /metrics). */
export async function apiText(path, options = {}) {
  const res = await request(path, { ...options, json: false });
  if (!res.ok) throw explain(res.status);
  return res.text();
}

/** The WebSocket URL of this service, with the token and extra parameters. */
export function wsUrl(params = {}) {
  const url = new URL('ws', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = apiToken();
  if (token) url.searchParams.set('token', token);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  }
  return url.toString();
}

/**
 * Why the live feed's handshake fails, when the reason is the token: browsers hide
 * a refused WebSocket's HTTP status, so the same URL is asked over plain HTTP
 * (the service checks the token before the upgrade). Resolves to the advice on a
 * 401, else ''.
 */
export async function wsRefusal() {
  const url = new URL(wsUrl());
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  try {
    const res = await request(url.toString(), { json: false, timeoutMs: 10000 });
    return res.status === 401 ? tokenAdvice() : '';
  } catch {
    return '';
  }
}

/**
 * Fetches a file the API answers (e.g. the CSV export) with the token, and hands
 * it to the browser as a download named by the service's Content-Disposition.
 * Resolves to the file name.
 */
export async function apiDownload(path, fallbackName) {
  const res = await request(path, { json: false, timeoutMs: 120000 });
  if (!res.ok) {
    let err = {};
    try { err = ((await res.json()) || {}).error || {}; } catch { /* not JSON */ }
    throw explain(res.status, err.code, err.message);
  }
  const disposition = res.headers.get('Content-Disposition') || '';
  const match = /filename="([^"]+)"/.exec(disposition);
  const name = match ? match[1] : fallbackName;
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}
