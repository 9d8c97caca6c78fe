// The face pile page: beats for this tab, live events, and what they show.
// Plain browser JavaScript, no build step.
(() => {
  'use strict';

  const config = JSON.parse(document.getElementById('config').textContent);
  const { user, artifact, version } = config;
  const HEARTBEAT_MS = config.heartbeatSeconds * 1000;   // the server's setting, never a constant here
  const EDITING_QUIET_MS = 3000;                          // back to 'viewing' after this long without typing
  const session = newSessionId();                         // one per tab: a reload is a new session

  // --- this tab's presence: beats, state, leave --------------------------

  // crypto.randomUUID exists only in secure contexts (https, localhost);
  // the page may also be served over plain http on another host.
  function newSessionId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  let state = document.visibilityState === 'hidden' ? 'idle' : 'viewing';
  let beatTimer = null;
  let quietTimer = null;
  // Set on pagehide: the session has left, and a beat now (the
  // visibilitychange of the unload sends one) would bring it back.
  let gone = false;
  // Beats go one after another, so that the server sees the states in the
  // order the user made them (an 'editing' beat never overtakes 'viewing').
  let beatQueue = Promise.resolve();

  function beat() {
    if (gone) return;
    clearTimeout(beatTimer);
    beatTimer = setTimeout(beat, HEARTBEAT_MS);
    const body = JSON.stringify({
      user, artifact, version, session, state,
      data: state === 'editing' ? { field: 'notes' } : null,
    });
    beatQueue = beatQueue.then(() => sendBeat(body));
  }

  async function sendBeat(body) {
    if (gone) return;   // queued before the page went away
    try {
      const res = await fetch('/api/beat', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      if (!res.ok) setStatus(`beat refused: ${(await res.text()).trim()}`);
    } catch {
      setStatus('offline: the next beat tries again');
    }
  }

  // A change of state is sent at once, not at the next beat.
  function setState(next) {
    if (next === state) return;
    state = next;
    beat();
    showLive();
  }

  const editor = document.getElementById('editor');
  editor.addEventListener('input', () => {
    setState('editing');
    clearTimeout(quietTimer);
    quietTimer = setTimeout(() => setState(restingState()), EDITING_QUIET_MS);
  });

  function restingState() {
    return document.visibilityState === 'hidden' ? 'idle' : 'viewing';
  }

  // A tab in the background is still open, but nobody looks at it.
  document.addEventListener('visibilitychange', () => {
    if (state !== 'editing') setState(restingState());
  });

  // The tab goes away (closed, reloaded, navigated, or put in the
  // back/forward cache): leave now instead of after the TTL.  sendBeacon is
  // delivered even while the page unloads; a string goes as text/plain.
  window.addEventListener('pagehide', () => {
    gone = true;
    clearTimeout(beatTimer);
    clearTimeout(quietTimer);
    navigator.sendBeacon('/api/leave', JSON.stringify({ user, artifact, session }));
    if (source) source.close();
  });

  // Back from the back/forward cache: present again, and live again.
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    gone = false;
    state = restingState();
    beat();
    connectEvents();
  });

  // --- what the page shows ------------------------------------------------

  const viewers = new Map();    // user_id -> {user_id, version_id, state, sessions, data, last_seen_at}; newest last
  let recent = [];              // [{user_id, version_id, last_seen_at, how}], newest first
  let versions = [];            // [{version_id, unread}]
  let matrix = [];              // [{user_id, version_id, view_count, last_viewed_at}]
  let clockOffsetMs = 0;        // server clock minus this one, for "seen N min ago"

  function applySnapshot(snapshot) {
    clockOffsetMs = Date.parse(snapshot.now) - Date.now();
    viewers.clear();
    for (const v of [...snapshot.viewers].reverse()) viewers.set(v.user_id, v);
    recent = snapshot.recent;
    versions = snapshot.versions;
    matrix = snapshot.matrix;
    renderAll();
  }

  // One event of NOTIFY presence_tracking, as the server forwarded it.
  function applyEvent(event) {
    const known = viewers.get(event.user_id);
    switch (event.event) {
      case 'join':
      case 'update': {
        const next = {
          user_id: event.user_id,
          version_id: event.version_id,
          state: event.state,
          data: event.data ?? null,
          last_seen_at: event.at,
          sessions: event.sessions ?? known?.sessions ?? 1,
        };
        // A join moves the user to the front; an update keeps the place.
        if (event.event === 'join') {
          viewers.delete(event.user_id);
          refreshSideLists();   // the newcomer's page load recorded a view
        }
        viewers.set(event.user_id, next);
        recent = recent.filter((r) => r.user_id !== event.user_id);
        if (!versions.some((v) => v.version_id === event.version_id)) {
          // A version this user has not loaded yet: new, so unread.
          versions = [...versions, { version_id: event.version_id, unread: true }]
            .sort((a, b) => (a.version_id < b.version_id ? -1 : a.version_id > b.version_id ? 1 : 0));
          renderVersions();
          renderMatrix();
        }
        break;
      }
      case 'leave':
        viewers.delete(event.user_id);
        refreshSideLists();
        break;
      default:
        return;
    }
    renderFacePile();
    renderRecent();
  }

  const facePile = document.querySelector('[data-testid="face-pile"]');
  const warning = document.querySelector('[data-testid="editing-warning"]');
  const recentList = document.querySelector('[data-testid="recent"]');
  const versionList = document.querySelector('[data-testid="versions"]');
  const matrixTable = document.querySelector('[data-testid="matrix"]');

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...children);
    return node;
  }

  function initials(id) {
    const words = id.split(/[\s._@-]+/).filter(Boolean);
    const letters = words.length > 1 ? words[0][0] + words[1][0] : id.slice(0, 2);
    return letters.toUpperCase();
  }

  // A stable color per user.
  function color(id) {
    let h = 0;
    for (const c of id) h = (h * 31 + c.codePointAt(0)) % 360;
    return `hsl(${h} 55% 42%)`;
  }

  function renderFacePile() {
    const faces = [...viewers.values()].reverse().map((v) => {
      const tabs = v.sessions > 1 ? `, ${v.sessions} tabs` : '';
      const face = el('li', {
        class: 'face',
        'data-user-id': v.user_id,
        'data-state': v.state,
        'data-version-id': v.version_id,
        'data-self': String(v.user_id === user),
        title: `${v.user_id}: ${v.state} on ${v.version_id}${tabs}`,
        style: `background: ${color(v.user_id)}`,
      }, initials(v.user_id));
      if (v.sessions > 1) face.append(el('span', { class: 'badge', 'data-testid': 'session-count' }, String(v.sessions)));
      return face;
    });
    facePile.replaceChildren(...faces);

    // Someone else editing the version this page shows.
    const editors = [...viewers.values()]
      .filter((v) => v.user_id !== user && v.state === 'editing' && v.version_id === version)
      .map((v) => v.user_id);
    warning.hidden = editors.length === 0;
    warning.textContent = editors.length === 0 ? ''
      : `${editors.join(', ')} ${editors.length === 1 ? 'is' : 'are'} editing this version: your changes may conflict.`;
  }

  function ago(timestamp) {
    const minutes = Math.floor((Date.now() + clockOffsetMs - Date.parse(timestamp)) / 60000);
    if (minutes < 1) return 'seen just now';
    if (minutes < 60) return `seen ${minutes} min ago`;
    return `seen ${Math.floor(minutes / 60)} h ago`;
  }

  function renderRecent() {
    const items = recent
      .filter((r) => !viewers.has(r.user_id))
      .map((r) => el('li', { 'data-user-id': r.user_id, 'data-how': r.how },
        `${r.user_id} (${r.how === 'timed_out' ? 'timed out' : 'left'}) on ${r.version_id}, ${ago(r.last_seen_at)}`));
    recentList.replaceChildren(...items);
  }

  function versionUrl(versionId) {
    const params = new URLSearchParams({ user, artifact, version: versionId });
    return `/?${params}`;
  }

  function renderVersions() {
    versionList.replaceChildren(...versions.map((v) => el('li', {
      'data-version-id': v.version_id,
      'data-unread': String(v.unread),
      'data-current': String(v.version_id === version),
      title: v.unread ? 'not viewed yet' : 'viewed',
    }, el('a', { href: versionUrl(v.version_id) }, v.version_id))));
  }

  function renderMatrix() {
    const columns = [...new Set([...versions.map((v) => v.version_id), ...matrix.map((m) => m.version_id)])].sort();
    const users = [...new Set(matrix.map((m) => m.user_id))].sort();
    const cell = new Map(matrix.map((m) => [`${m.user_id}\u0000${m.version_id}`, m]));
    const head = el('tr', {}, el('th', {}, 'user'), ...columns.map((c) => el('th', {}, c)));
    const rows = users.map((u) => el('tr', { 'data-user-id': u }, el('th', {}, u), ...columns.map((c) => {
      const m = cell.get(`${u}\u0000${c}`);
      return el('td', m ? { 'data-version-id': c, title: `last viewed ${new Date(m.last_viewed_at).toLocaleString()}` }
        : { 'data-version-id': c }, m ? String(m.view_count) : '');
    })));
    matrixTable.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
  }

  function renderAll() {
    renderFacePile();
    renderRecent();
    renderVersions();
    renderMatrix();
  }

  const statusLine = document.getElementById('status');
  let live = false;     // the event stream is up and the state read
  function setStatus(text) {
    statusLine.textContent = text;
  }
  function showLive() {
    if (live) setStatus(`live: ${state}, a beat every ${config.heartbeatSeconds} s (session ${session.slice(0, 8)})`);
  }

  // --- live updates: server-sent events, and the state they apply to ------

  const stateUrl = `/api/state?${new URLSearchParams({ user, artifact, version })}`;
  let source = null;
  let syncGeneration = 0;
  let pending = null;   // events received while a snapshot is being read

  // On every (re)connect: read the whole state once, then apply the events.
  // Events that arrive while the snapshot is read are kept and applied
  // after it, in order: applying one the snapshot already has changes
  // nothing, and none is lost.
  async function resync() {
    const generation = ++syncGeneration;
    pending = [];
    try {
      const res = await fetch(stateUrl, { cache: 'no-store' });
      if (!res.ok) throw new Error((await res.text()).trim());
      const snapshot = await res.json();
      if (generation !== syncGeneration) return;   // a newer resync owns the buffer
      const buffered = pending;
      pending = null;
      applySnapshot(snapshot);
      for (const event of buffered) applyEvent(event);
      live = true;
      showLive();
    } catch (err) {
      if (generation !== syncGeneration) return;
      setStatus(`could not read the face pile (${err.message}): retrying`);
      setTimeout(() => { if (generation === syncGeneration) resync(); }, 1000);
    }
  }

  // After a join or a leave, the lists beside the face pile are read again
  // (the face pile itself follows the events): "recently here" from the
  // server, which knows how the user went (left, timed out) and when they
  // were last seen; the versions and the matrix, since a newcomer's page
  // load recorded a view.
  async function refreshSideLists() {
    try {
      const res = await fetch(stateUrl, { cache: 'no-store' });
      if (!res.ok) return;
      const snapshot = await res.json();
      ({ recent, versions, matrix } = snapshot);
      renderRecent();
      renderVersions();
      renderMatrix();
    } catch {
      // the next join, leave or resync reads them again
    }
  }

  function connectEvents() {
    if (source) source.close();
    source = new EventSource(`/events?${new URLSearchParams({ artifact })}`);
    source.onopen = () => resync();
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (pending) pending.push(event);
      else applyEvent(event);
    };
    // The server lost its LISTEN connection for a while: events may be missing.
    source.addEventListener('resync', () => resync());
    // EventSource reconnects by itself (the server asks for 1 s).
    source.onerror = () => {
      live = false;
      setStatus('disconnected: reconnecting');
    };
  }

  document.getElementById('artifact').textContent = artifact;
  document.getElementById('version').textContent = version;
  document.getElementById('me').textContent = user;
  document.title = `${artifact} ${version} - ${user}`;

  connectEvents();
  beat();
  // "seen N min ago" moves on without any request.
  setInterval(renderRecent, 30000);
})();
