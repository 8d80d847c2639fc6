// The page's picture of the PBX, fed by snapshots, changes and HTTP reloads.
// Every change marks what needs redrawing; renderers read and clear the marks.

import { compareNumbers, ms } from './format.js';

const RECENT_MAX = 30;

const extKey = (e) => `${e.pbx}\u0000${e.extension}`;
const callKey = (c) => `${c.pbx}\u0000${c.id}`;

export class Store {
  constructor() {
    /** key → Extension */
    this.extensions = new Map();
    /** key → Call (active) */
    this.calls = new Map();
    /** finished calls, newest first */
    this.recent = [];
    /** pbx → ConnectionStatus */
    this.connections = new Map();
    /** extension number → display name learned from calls */
    this.names = new Map();
    /** server time minus browser time, ms */
    this.clockOffset = 0;
    this.dirty = { all: true, exts: new Set(), calls: true, recent: true, conn: true };
  }

  now() {
    return Date.now() + this.clockOffset;
  }

  key(e) {
    return extKey(e);
  }

  pbxCount() {
    const pbxs = new Set();
    for (const e of this.extensions.values()) pbxs.add(e.pbx);
    return pbxs.size;
  }

  /** Replaces everything with a `snapshot` message's data. */
  applySnapshot(data, ts) {
    const serverNow = ms(ts);
    if (!Number.isNaN(serverNow)) this.clockOffset = serverNow - Date.now();
    this.replaceExtensions(data.extensions || []);
    this.calls.clear();
    for (const c of data.calls || []) {
      this.calls.set(callKey(c), c);
      this.learnNames(c);
    }
    this.recent = (data.recentCalls || []).slice().sort((a, b) => ms(b.endedAt) - ms(a.endedAt)).slice(0, RECENT_MAX);
    for (const c of this.recent) this.learnNames(c);
    this.connections.clear();
    for (const s of data.connections || []) this.connections.set(s.pbx, s);
    this.dirty.calls = true;
    this.dirty.recent = true;
    this.dirty.conn = true;
  }

  replaceExtensions(list) {
    this.extensions.clear();
    for (const e of list) this.extensions.set(extKey(e), e);
    this.dirty.all = true;
    this.dirty.exts.clear();
  }

  /** An `extension.status` change; state `removed` means the PBX removed the hint. */
  applyExtension(e) {
    const key = extKey(e);
    if (e.state === 'removed') {
      if (this.extensions.delete(key)) this.dirty.all = true;
      return;
    }
    const isNew = !this.extensions.has(key);
    this.extensions.set(key, e);
    if (isNew) this.dirty.all = true;
    else this.dirty.exts.add(key);
  }

  applyCall(type, c) {
    const key = callKey(c);
    this.learnNames(c);
    if (type === 'call.ended') {
      this.calls.delete(key);
      this.recent = [c, ...this.recent.filter((r) => callKey(r) !== key)].slice(0, RECENT_MAX);
      this.dirty.recent = true;
    } else {
      this.calls.set(key, c);
    }
    this.dirty.calls = true;
  }

  setRecent(list) {
    this.recent = list.slice(0, RECENT_MAX);
    for (const c of this.recent) this.learnNames(c);
    this.dirty.recent = true;
  }

  applyConnection(s) {
    this.connections.set(s.pbx, s);
    this.dirty.conn = true;
  }

  /** Caller ID names seen on calls name extensions the PBX gave no name for. */
  learnNames(c) {
    for (const p of [c.caller, c.callee]) {
      if (p && p.number && p.name && this.names.get(p.number) !== p.name) {
        this.names.set(p.number, p.name);
        for (const [key, e] of this.extensions) {
          if (e.extension === p.number && !e.name) this.dirty.exts.add(key);
        }
      }
    }
  }

  nameOf(e) {
    return e.name || this.names.get(e.extension) || '';
  }

  /** Extensions in display order. */
  sortedExtensions() {
    return [...this.extensions.values()].sort(
      (a, b) => compareNumbers(a.extension, b.extension) || a.pbx.localeCompare(b.pbx),
    );
  }

  /** Active calls, longest first. */
  sortedCalls() {
    return [...this.calls.values()].sort((a, b) => ms(a.startedAt) - ms(b.startedAt));
  }
}
