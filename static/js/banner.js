// The connection banner: says when the data on screen cannot be trusted — the PBX
// (AMI) connection is down, reconnecting or refused, or this page's live feed is
// disconnected. Hidden while everything is live.

import { timeOfDay, ms } from './format.js';

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
   */
  render(connections, ws, now) {
    const items = [];
    if (ws.state !== 'open') {
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
    for (const s of connections.values()) {
      const m = amiMessage(s, now);
      if (m) items.push({ ...m, kind: 'ami', state: s.state });
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
