// The page's picture of the PBXs, fed by snapshots, changes and HTTP reloads.
// Every change marks what needs redrawing; renderers read and clear the marks.
// Counts by PBX and state are kept up to date change by change, so a change costs
// the same with 20 extensions or 2,000.

import { compareNumbers, ms, STATES, stateKind } from './format.js';

const RECENT_MAX = 30;

const extKey = (e) => `${e.pbx}\u0000${e.extension}`;
const callKey = (c) => `${c.pbx}\u0000${c.id}`;

/** A fresh `state kind → 0` tally. */
export function emptyTally() {
  return new Map(STATES.map(([s]) => [s, 0]));
}

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
    /** extension key (PBX and number) → display name learned from calls */
    this.names = new Map();
    /** pbx → (state kind → extensions in it) */
    this.tallies = new Map();
    /** state kind → extensions in it, over every PBX */
    this.tally = emptyTally();
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

  /** How many PBXs have extensions (constant time: the page asks on every draw). */
  pbxCount() {
    return this.tallies.size;
  }

  /** PBX names with extensions, sorted. */
  pbxNames() {
    return [...this.tallies.keys()].sort(compareNumbers);
  }

  count(e, delta) {
    const kind = stateKind(e.state);
    let t = this.tallies.get(e.pbx);
    if (!t) {
      t = emptyTally();
      this.tallies.set(e.pbx, t);
    }
    t.set(kind, t.get(kind) + delta);
    this.tally.set(kind, this.tally.get(kind) + delta);
    if (delta < 0 && [...t.values()].every((n) => n === 0)) this.tallies.delete(e.pbx);
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
    this.tallies.clear();
    this.tally = emptyTally();
    for (const e of list) {
      const key = extKey(e);
      const old = this.extensions.get(key);
      if (old) this.count(old, -1);
      this.extensions.set(key, e);
      this.count(e, 1);
    }
    this.dirty.all = true;
    this.dirty.exts.clear();
  }

  /** An `extension.status` change; state `removed` means the PBX removed the hint. */
  applyExtension(e) {
    const key = extKey(e);
    const old = this.extensions.get(key);
    if (old) this.count(old, -1);
    if (e.state === 'removed') {
      if (old) {
        this.extensions.delete(key);
        this.dirty.all = true;
      }
      return;
    }
    this.extensions.set(key, e);
    this.count(e, 1);
    if (!old) this.dirty.all = true;
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

  /** Caller ID names seen on calls name extensions the PBX gave no name for (on
   * the call's own PBX: the same number elsewhere is someone else). */
  learnNames(c) {
    for (const p of [c.caller, c.callee]) {
      if (!p || !p.number || !p.name) continue;
      const key = extKey({ pbx: c.pbx, extension: p.number });
      const e = this.extensions.get(key);
      // Outside numbers are not kept: the map stays as small as the extension list.
      if (!e || this.names.get(key) === p.name) continue;
      this.names.set(key, p.name);
      if (!e.name) this.dirty.exts.add(key);
    }
  }

  nameOf(e) {
    return e.name || this.names.get(extKey(e)) || '';
  }

  /** Extensions in display order: by PBX, then number. */
  sortedExtensions() {
    return [...this.extensions.values()].sort(
      (a, b) => compareNumbers(a.pbx, b.pbx) || compareNumbers(a.extension, b.extension),
    );
  }

  /** Active calls, longest first. */
  sortedCalls() {
    return [...this.calls.values()].sort((a, b) => ms(a.startedAt) - ms(b.startedAt));
  }
}
