// HTTP helpers: JSON calls with the API token, error envelopes turned into ApiError.
//
// The token comes from `?token=` in the page's own URL (then remembered in
// localStorage) or from localStorage `switchboard.apiToken`.

const TOKEN_KEY = 'switchboard.apiToken';

/** The API token, or '' when none is configured. */
export function apiToken() {
  const fromUrl = new URL(window.location.href).searchParams.get('token');
  if (fromUrl) {
    try { window.localStorage.setItem(TOKEN_KEY, fromUrl); } catch { /* private mode */ }
    return fromUrl;
  }
  try { return window.localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

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

function explain(status, code, message) {
  if (status === 401) {
    return new ApiError(status, code || 'UNAUTHORIZED',
      'an API token is required: open this page with ?token=YOUR_TOKEN');
  }
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
