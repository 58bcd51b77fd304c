/* PTD Vital Suite — live updates and small progressive enhancements.
 *
 * Plain ES2020, no dependencies besides the global `htmx` (served by django-htmx).
 * Loaded with `defer` and the CSP nonce; no inline code anywhere.
 *
 * Live updates (DESIGN.md principle 5):
 *   - a WebSocket to /ws/live/ receives {"type": "changed", "topics": [...]};
 *   - every element with an id and data-live-topics="a b c" whose topics intersect is refreshed by
 *     firing `live:<id>` on <body>; the element declares hx-trigger="live:<id> from:body";
 *   - on every (re)connect all live elements are refreshed (messages sent while disconnected are lost);
 *   - while the socket is not open, all live elements are refreshed every 60 s (polling fallback);
 *   - a refreshed element is highlighted briefly (.live-flash) and announced in #live-region.
 */
(() => {
  'use strict';

  const WS_PATH = '/ws/live/';
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const POLL_MS = 60000;
  const COALESCE_MS = 150;
  const FLASH_MS = 1800;
  const NAV_DESKTOP = '(min-width: 800px)';

  let socket = null;
  let attempt = 0;
  let reconnectTimer = null;
  let pollTimer = null;

  // id -> 'changed' (the server said its data changed) | 'refresh' (reconnect / poll)
  const pending = new Map();
  // id -> timer, to coalesce bursts of messages into one request per element
  const scheduled = new Map();
  // id -> text signature before a 'refresh' swap, to flash only when something changed
  const before = new Map();

  /* ---------- helpers ---------- */

  const hasHtmx = () => typeof window.htmx !== 'undefined';

  const liveElements = () => Array.from(document.querySelectorAll('[data-live-topics][id]'));

  const topicsOf = (el) => (el.getAttribute('data-live-topics') || '').split(/\s+/).filter(Boolean);

  const labelOf = (el) => el.getAttribute('data-live-label') || el.id.replace(/[-_]+/g, ' ');

  // Visible text without <time> elements, whose "3 minutes ago" drifts on every fetch, and without what Plotly
  // drew into a .chart (absent from the server's HTML); a chart's data is in its JSON <script>, which counts.
  const signature = (root) => {
    const clone = root.cloneNode(true);
    clone.querySelectorAll('time, .htmx-indicator, .chart').forEach((t) => t.remove());
    return (clone.textContent || '').replace(/\s+/g, ' ').trim();
  };

  const pathOnly = (path) => {
    try {
      return new URL(path, location.href).pathname;
    } catch (err) {
      return path;
    }
  };

  const signatureOfHtml = (html) => {
    const tpl = document.createElement('template');
    tpl.innerHTML = html;
    return signature(tpl.content);
  };

  let announceTimer = null;
  const announced = new Set();
  function announce(label) {
    const region = document.getElementById('live-region');
    if (!region) return;
    announced.add(label);
    // Batch updates that land together into one short message.
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => {
      const text = 'Updated: ' + Array.from(announced).join(', ');
      announced.clear();
      // Clear first so the same words twice in a row are announced again.
      region.textContent = '';
      setTimeout(() => { region.textContent = text; }, 50);
    }, 250);
  }

  function flash(el) {
    el.classList.remove('live-flash');
    void el.offsetWidth; // restart the animation if it is still running
    el.classList.add('live-flash');
    const done = () => el.classList.remove('live-flash');
    el.addEventListener('animationend', done, { once: true });
    setTimeout(done, FLASH_MS); // reduced motion: no animation, so no animationend
  }

  /* ---------- refreshing live elements ---------- */

  function refresh(el, reason) {
    if (!hasHtmx() || !el.id) return;
    const id = el.id;
    // 'changed' wins over 'refresh' when both are queued for the same element.
    if (pending.get(id) !== 'changed') pending.set(id, reason);
    if (scheduled.has(id)) return;
    scheduled.set(id, setTimeout(() => {
      scheduled.delete(id);
      if (!document.getElementById(id)) { pending.delete(id); return; }
      window.htmx.trigger(document.body, 'live:' + id);
    }, COALESCE_MS));
  }

  function refreshAll(reason) {
    liveElements().forEach((el) => refresh(el, reason));
  }

  function onChanged(topics) {
    const wanted = new Set(topics);
    const all = wanted.has('*');
    liveElements().forEach((el) => {
      if (all || topicsOf(el).some((t) => wanted.has(t))) refresh(el, 'changed');
    });
  }

  /* ---------- WebSocket with exponential backoff ---------- */

  function socketOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (socket && (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + WS_PATH;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket = ws;

    ws.addEventListener('open', () => {
      attempt = 0;
      // State is fetched on every (re)connect: messages sent while we were away are lost.
      refreshAll('refresh');
    });

    ws.addEventListener('message', (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (msg && msg.type === 'changed' && Array.isArray(msg.topics)) onChanged(msg.topics);
    });

    ws.addEventListener('close', () => {
      if (socket !== ws) return; // an older socket, already replaced
      socket = null;
      scheduleReconnect();
    });
    // 'error' is always followed by 'close'; reconnecting is handled there.
  }

  function scheduleReconnect() {
    if (reconnectTimer !== null) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    attempt += 1;
    // 1 s, 2 s, 4 s … 30 s, each ±25 % so tabs don't reconnect in lockstep.
    const delay = Math.round(Math.min(BACKOFF_MAX_MS, ceiling * (0.75 + Math.random() * 0.5)));
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function startPolling() {
    if (pollTimer !== null) return;
    pollTimer = setInterval(() => {
      if (!socketOpen() && !document.hidden) refreshAll('refresh');
    }, POLL_MS);
  }

  /* ---------- htmx hooks ---------- */

  function installHtmxHooks() {
    const inFlight = new Set();
    const indicator = () => document.getElementById('global-indicator');

    document.addEventListener('htmx:beforeRequest', (evt) => {
      const detail = evt.detail || {};
      inFlight.add(detail.xhr || evt);
      const bar = indicator();
      if (bar) bar.classList.add('htmx-request');
      if (detail.elt && detail.elt.setAttribute) detail.elt.setAttribute('aria-busy', 'true');
    });

    // htmx fires afterRequest twice when the element was swapped out (on it and on its parent),
    // so requests are tracked by their xhr rather than counted.
    document.addEventListener('htmx:afterRequest', (evt) => {
      const detail = evt.detail || {};
      inFlight.delete(detail.xhr || evt);
      const bar = indicator();
      if (bar && inFlight.size === 0) bar.classList.remove('htmx-request');
      const elt = detail.elt;
      if (elt && elt.removeAttribute) elt.removeAttribute('aria-busy');
      // A live refresh that failed (network, 4xx/5xx) keeps the old content; forget it.
      if (elt && elt.id && pending.has(elt.id) && !detail.successful) pending.delete(elt.id);
    });

    document.addEventListener('htmx:beforeSwap', (evt) => {
      const target = evt.detail && evt.detail.target;
      if (!target || !target.id || !pending.has(target.id)) return;
      if (!evt.detail.shouldSwap) { // 204, error status: nothing will be swapped
        pending.delete(target.id);
        return;
      }
      // Session ended: the partial request was redirected (to the sign-in page). Never swap a whole
      // page into a section; keep what is shown until the next navigation asks to sign in.
      const info = evt.detail.pathInfo;
      if (info && info.responsePath && pathOnly(info.responsePath) !== pathOnly(info.requestPath)) {
        evt.detail.shouldSwap = false;
        pending.delete(target.id);
        return;
      }
      if (pending.get(target.id) === 'refresh' && typeof evt.detail.serverResponse === 'string') {
        before.set(target.id, [signature(target), signatureOfHtml(evt.detail.serverResponse)]);
      }
    });

    // afterSettle fires on each newly swapped element; detail.target is the swap target (for an
    // outerHTML swap, the old element, now detached: look the new one up by id).
    document.addEventListener('htmx:afterSettle', (evt) => {
      const target = evt.detail && evt.detail.target;
      const id = target && target.id;
      if (!id || !pending.has(id)) return;
      const el = document.getElementById(id);
      if (!el) return;
      const reason = pending.get(id);
      pending.delete(el.id);
      let changed = true;
      if (reason === 'refresh') {
        const sigs = before.get(el.id);
        changed = !sigs || sigs[0] !== sigs[1];
      }
      before.delete(el.id);
      if (changed) {
        flash(el);
        announce(labelOf(el));
      }
    });
  }

  /* ---------- progressive enhancements ---------- */

  // <select data-autosubmit> submits its form on change. An <option data-no-autosubmit> (the
  // period filter's "Custom range") waits for the Apply button instead.
  function installAutosubmit() {
    document.addEventListener('change', (evt) => {
      const el = evt.target;
      if (!(el instanceof HTMLSelectElement) || !el.hasAttribute('data-autosubmit') || !el.form) return;
      const option = el.selectedOptions[0];
      if (option && option.hasAttribute('data-no-autosubmit')) {
        // Move the user on to the first date field of the period filter.
        const firstDate = el.form.querySelector('input[type="date"]');
        if (firstDate) firstDate.focus();
        return;
      }
      if (typeof el.form.requestSubmit === 'function') el.form.requestSubmit();
      else el.form.submit();
    });

    // Typing a date in the period filter means "custom range".
    document.addEventListener('change', (evt) => {
      const el = evt.target;
      if (!(el instanceof HTMLInputElement) || el.type !== 'date') return;
      const form = el.closest('form[data-period-filter]');
      if (!form) return;
      const select = form.querySelector('select[name="period"]');
      if (select && select.querySelector('option[value="custom"]')) select.value = 'custom';
    });
  }

  // Navigation: always open on desktop, a collapsed disclosure on a phone.
  function installNav() {
    const details = document.getElementById('nav-disclosure');
    if (!details || !window.matchMedia) return;
    const mq = window.matchMedia(NAV_DESKTOP);
    const apply = () => { details.open = mq.matches; };
    apply();
    if (mq.addEventListener) mq.addEventListener('change', apply);
    else if (mq.addListener) mq.addListener(apply);
  }

  // KPI formula tooltips: Escape hides the one being hovered or focused (WCAG 1.4.13).
  function installTooltips() {
    document.addEventListener('keydown', (evt) => {
      if (evt.key !== 'Escape') return;
      document.querySelectorAll('.kpi-help:hover, .kpi-help:focus-within').forEach((help) => {
        help.classList.add('is-dismissed');
      });
    });
    const reset = (evt) => {
      const help = evt.target instanceof Element ? evt.target.closest('.kpi-help') : null;
      if (help) help.classList.remove('is-dismissed');
    };
    document.addEventListener('focusout', reset);
    document.addEventListener('mouseout', reset);
  }

  /* ---------- start ---------- */

  function start() {
    installAutosubmit();
    installNav();
    installTooltips();
    installHtmxHooks();

    // Live updates only for signed-in pages (base.html sets data-live="on").
    if (document.body.getAttribute('data-live') !== 'on') return;
    if ('WebSocket' in window) connect();
    startPolling();

    window.addEventListener('online', () => {
      attempt = 0;
      if (!socketOpen()) connect();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && !socketOpen()) refreshAll('refresh');
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
