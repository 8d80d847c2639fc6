// The connection banner: says when the data on screen cannot be trusted — a PBX
// (AMI) connection is down, reconnecting or refused, this page's live feed is
// disconnected, or the service wants an access token. Hidden while everything is
// live. Several PBXs down make one summary line, not a line per PBX.

import { compareNumbers, timeOfDay, ms } from './format.js';

function secondsUntil(at, now) {
  const t = typeof at === 'number' ? at : ms(at);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** What to say about one AMI connection, or null when it is connected. */
export function amiMessage(s, now) {
  const pbx = s.pbx && s.pbx !== 'default' ? ` ${s.pbx}` : '';
  const next = s.nextAttempt ? ` Next attempt at ${timeOfDay(s.nextAttempt)}.` : '';
  // The countdown is drawn apart (and not announced) so the banner text stays still.
  const countdown = s.nextAttempt ? ms(s.nextAttempt) - (now - Date.now()) : null;
  const why = s.lastError ? ` Last error: ${s.lastError}.` : '';
  switch (s.state) {
    case 'connected':
      return null;
    case 'loginRefused':
      return {
        level: 'error',
        title: `The PBX${pbx} refused the login`,
        text: `Check the AMI user name and secret.${next}${why} Extension states shown may be stale.`,
        countdown,
      };
    case 'backingOff':
      return {
        level: 'warn',
        title: `PBX${pbx} connection lost — reconnecting`,
        text: `${next.trim()}${why} ${s.reconnects ? `${s.reconnects} reconnects so far. ` : ''}Extension states shown may be stale.`,
        countdown,
      };
    case 'connecting':
    case 'authenticating':
      return {
        level: 'warn',
        title: `Connecting to the PBX${pbx}…`,
        text: `${s.state === 'authenticating' ? 'Logging in.' : 'Opening the AMI connection.'}${why} Extension states shown may be stale.`,
      };
    default:
      return {
        level: 'error',
        title: `Not connected to the PBX${pbx}`,
        text: `${why.trim()} Extension states shown may be stale.`,
      };
  }
}

/** Groups of not-connected PBXs, in the order a supervisor should act on them. */
const GROUPS = [
  ['loginRefused', 'Login refused', 'check the AMI user name and secret'],
  ['backingOff', 'Reconnecting', ''],
  ['connecting', 'Connecting', ''],
  ['authenticating', 'Logging in', ''],
];

/** One line about every PBX that is not connected (two or more of them). */
export function amiSummary(down, total, now) {
  const offset = now - Date.now();
  const byState = new Map();
  for (const s of down) {
    const known = GROUPS.some(([state]) => state === s.state);
    const key = known ? s.state : 'other';
    if (!byState.has(key)) byState.set(key, []);
    byState.get(key).push(s);
  }
  const parts = [];
  let soonest = null;
  for (const [state, label, advice] of [...GROUPS, ['other', 'Not connected', '']]) {
    const list = byState.get(state);
    if (!list) continue;
    const names = list.map((s) => s.pbx).sort(compareNumbers).join(', ');
    const attempts = list.map((s) => ms(s.nextAttempt)).filter((t) => !Number.isNaN(t));
    const next = attempts.length ? Math.min(...attempts) : null;
    if (next !== null && (soonest === null || next < soonest)) soonest = next;
    const notes = [advice, next !== null ? `next attempt at ${timeOfDay(new Date(next).toISOString())}` : '']
      .filter(Boolean)
      .join('; ');
    parts.push(`${label}: ${names}${notes ? ` (${notes})` : ''}.`);
  }
  const refused = byState.has('loginRefused') || byState.has('other');
  return {
    level: refused ? 'error' : 'warn',
    title: `${down.length} of ${total} PBXs not connected`,
    text: `${parts.join(' ')} Extension states of these PBXs may be stale.`,
    countdown: soonest === null ? null : soonest - offset,
  };
}

export class Banner {
  constructor(el, onReconnect) {
    this.el = el;
    this.onReconnect = onReconnect;
    this.key = '';
  }

  /**
   * @param {Map} connections pbx → ConnectionStatus
   * @param {{state: string, nextAttempt: number|null, reason: string, attempts: number}} ws
   * @param {number} now server-aligned time for AMI, browser time for ws
   * @param {string} auth why the service refused this page (401), or ''
   */
  render(connections, ws, now, auth = '') {
    const items = [];
    if (auth) {
      items.push({ level: 'error', kind: 'auth', title: 'Access token needed.', text: auth });
    } else if (ws.state !== 'open') {
      items.push({
        level: 'error',
        kind: 'ws',
        title: ws.state === 'connecting' && ws.attempts === 0 ? 'Connecting to switchboard…' : 'Live updates disconnected',
        text: ws.state === 'connecting'
          ? (ws.attempts ? `Reconnecting (attempt ${ws.attempts + 1}). What you see may be out of date.` : 'Loading the live view.')
          : `${ws.reason ? `${ws.reason[0].toUpperCase()}${ws.reason.slice(1)}. ` : ''}Retrying at ${timeOfDay(new Date(ws.nextAttempt || Date.now()).toISOString())}. What you see may be out of date.`,
        action: ws.state === 'closed',
        countdown: ws.state === 'closed' ? ws.nextAttempt : null,
      });
    }
    const down = [...connections.values()].filter((s) => s.state !== 'connected');
    if (down.length === 1) {
      const m = amiMessage(down[0], now);
      if (m) items.push({ ...m, kind: 'ami', state: down[0].state });
    } else if (down.length > 1) {
      items.push({ ...amiSummary(down, connections.size, now), kind: 'ami', state: 'several' });
    }
    const amiStates = [...connections.values()].map((s) => s.state).join(',');
    this.el.dataset.amiState = amiStates || 'unknown';
    this.el.dataset.ws = ws.state;
    const key = JSON.stringify(items.map(({ countdown, ...rest }) => rest));
    if (key === this.key) {
      this.tickCountdowns(items);
      return;
    }
    this.key = key;
    if (!items.length) {
      this.el.hidden = true;
      this.el.replaceChildren();
      this.el.dataset.level = 'ok';
      return;
    }
    const level = items.some((i) => i.level === 'error') ? 'error' : 'warn';
    this.el.dataset.level = level;
    const frag = document.createDocumentFragment();
    for (const item of items) {
      const p = document.createElement('p');
      p.className = `banner-item ${item.kind}`;
      const strong = document.createElement('strong');
      strong.textContent = item.title;
      const count = document.createElement('span');
      count.className = 'countdown';
      count.setAttribute('aria-hidden', 'true');
      p.append(strong, count, document.createTextNode(` ${item.text}`));
      if (item.action) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'btn btn-small';
        b.textContent = 'Reconnect now';
        b.addEventListener('click', () => this.onReconnect());
        p.append(' ', b);
      }
      frag.append(p);
    }
    this.el.replaceChildren(frag);
    this.el.hidden = false;
    this.tickCountdowns(items);
  }

  tickCountdowns(items) {
    const spans = this.el.querySelectorAll('.countdown');
    items.forEach((item, i) => {
      const span = spans[i];
      if (!span) return;
      const wait = item.countdown ? secondsUntil(item.countdown, Date.now()) : null;
      const text = wait !== null ? ` (in ${wait} s)` : '';
      if (span.textContent !== text) span.textContent = text;
    });
  }
}
