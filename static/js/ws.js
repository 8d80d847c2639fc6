// The live WebSocket: connects, remembers the last `seq`, reconnects with capped
// exponential backoff and jitter, and resumes (`/ws?lastSeq=N`) so nothing is missed.
//
// The server answers a resume with the missed changes and then `resumed`, or with a
// fresh `snapshot` when the gap is too old (or the service restarted); the caller
// replaces its state on every snapshot.

import { wsUrl } from './api.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
/** A socket silent this long is presumed dead (the client pings every PING_MS). */
const SILENCE_MS = 45000;
const PING_MS = 15000;

export class LiveSocket {
  /**
   * @param {{onMessage: (msg: object) => void, onStatus: (status: object) => void,
   *   onRefused: () => void}} handlers `onRefused`: a socket closed before it opened
   */
  constructor({ onMessage, onStatus, onRefused }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onRefused = onRefused;
    this.lastSeq = null;
    this.attempts = 0;
    this.ws = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.nextAttempt = null;
    this.closeReason = '';
    /** How many snapshots and successful resumes this page has had. */
    this.counts = { snapshot: 0, resumed: 0, connects: 0 };
  }

  start() {
    window.addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && !this.ws) this.reconnectNow();
    });
    this.connect();
  }

  /** Closes the socket as a network drop would (the page then resumes). */
  drop() {
    if (this.ws) this.ws.close(4001, 'dropped by the page');
  }

  /** Skips the remaining backoff and connects at once. */
  reconnectNow() {
    if (this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  status(state) {
    this.onStatus({
      state,
      attempts: this.attempts,
      nextAttempt: this.nextAttempt,
      reason: this.closeReason,
    });
  }

  connect() {
    this.nextAttempt = null;
    this.status('connecting');
    let ws;
    try {
      ws = new WebSocket(wsUrl({ lastSeq: this.lastSeq }));
    } catch (e) {
      this.closeReason = String(e && e.message ? e.message : e);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempts = 0;
      this.counts.connects += 1;
      this.closeReason = '';
      this.lastHeard = Date.now();
      this.status('open');
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepAlive(), PING_MS);
    };
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.track(msg);
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      this.closeReason = ev.reason || (ev.code === 1006 ? 'connection lost' : `closed (${ev.code})`);
      this.scheduleRetry();
      if (!opened) this.onRefused();
    };
  }

  track(msg) {
    if (msg.type === 'snapshot' && typeof msg.seq === 'number') {
      this.counts.snapshot += 1;
      this.lastSeq = msg.seq;
    } else if (msg.type === 'resumed' && msg.data && typeof msg.data.seq === 'number') {
      this.counts.resumed += 1;
      this.lastSeq = Math.max(this.lastSeq ?? 0, msg.data.seq);
    } else if (msg.type && msg.type.includes('.') && typeof msg.seq === 'number') {
      this.lastSeq = Math.max(this.lastSeq ?? 0, msg.seq);
    }
  }

  keepAlive() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > SILENCE_MS) {
      ws.close(4000, 'no data from the server');
      return;
    }
    ws.send(JSON.stringify({ type: 'ping' }));
  }

  scheduleRetry() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempts);
    const delay = Math.round(base * (0.6 + Math.random() * 0.4));
    this.attempts += 1;
    this.nextAttempt = Date.now() + delay;
    this.status('closed');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
