// The extension page's queues: every queue this extension answers for, with what
// it is doing there, the calls it took and the callers waiting now. Read from
// `GET /api/queues`; a service without queues (404 or an empty list) leaves the
// panel hidden.

import { api } from './api.js';

const WORDS = {
  free: 'free',
  ringing: 'ringing',
  onCall: 'on a call',
  paused: 'paused',
  unavailable: 'unavailable',
};

/**
 * Whether a queue member is this extension: its interface's device is the
 * extension (`PJSIP/1001`, `SIP/1001-…`, `Local/1001@agents/n`), or its
 * configured name is the extension's display name.
 */
export function isMember(member, exten, name) {
  const device = (member.interface || '').split('/')[1] || '';
  const number = device.split(/[@-]/)[0];
  if (number === exten) return true;
  return Boolean(name) && member.name === name;
}

const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

/** Fills `#ext-queues` for extension `exten` (display name `name`) on `pbx`. */
export async function showQueues(panel, body, exten, name, pbx) {
  let queues = [];
  try {
    const answer = await api(`api/queues${pbx ? `?pbx=${encodeURIComponent(pbx)}` : ''}`);
    queues = answer.data || [];
  } catch {
    // No queues on this service (or none on this PBX): nothing to show.
    panel.hidden = true;
    panel.dataset.loaded = 'true';
    return;
  }
  const mine = [];
  for (const q of queues) {
    const m = (q.members || []).find((x) => isMember(x, exten, name));
    if (m) mine.push([q, m]);
  }
  panel.hidden = mine.length === 0;
  const list = el('ul', 'queue-members');
  list.setAttribute('aria-label', `Queues of ${exten}`);
  for (const [q, m] of mine) {
    const li = el('li', 'member');
    li.dataset.state = m.state;
    li.dataset.queue = q.name;
    const word = WORDS[m.state] || m.state;
    const what = m.state === 'paused' && m.pausedReason ? `${word}: ${m.pausedReason}` : word;
    const waiting = (q.callers || []).length;
    li.append(
      el('span', 'member-name', q.name),
      el('span', 'member-state', `${what} · ${m.callsTaken} taken · ${waiting} waiting`),
    );
    li.title = `${m.interface} in ${q.name}`;
    list.append(li);
  }
  body.replaceChildren(list);
  panel.dataset.loaded = 'true';
}
