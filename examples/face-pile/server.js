// The face pile example: a live "who is here" for one artifact, on
// presence_tracking_text, node-postgres and Node's own http module.
//
//   GET  /?user=&artifact=&version=   the page; records a view of the version
//   GET  /app.js                      the page's script
//   GET  /events?artifact=            server-sent events: the artifact's presence events
//   GET  /api/state?user=&artifact=&version=
//                                     face pile, recent viewers, versions (unread), matrix
//   POST /api/beat   {user, artifact, version, session, state, data}
//   POST /api/leave  {user, artifact, session}  (navigator.sendBeacon: text/plain JSON)
//
// Configuration: PORT (default 8080; 0 picks a free one), HOST (default
// 127.0.0.1), and the standard PG* variables (PGHOST, PGPORT, PGDATABASE,
// PGUSER, PGPASSWORD) for the database, which needs the extension:
// CREATE EXTENSION presence_tracking_text.  The role needs
// presence_tracking_writer and presence_tracking_reader (make demo connects
// as the postgres superuser); the library should be preloaded
// (shared_preload_libraries), so that the settings exist in every session
// and timeouts are announced by its background worker.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));
const PORT = Number(process.env.PORT ?? 8080);
const HOST = process.env.HOST || '127.0.0.1';

// The extension's limits, checked here first so that a bad request gets a
// 400 with a plain message instead of a database error.
const MAX_KEY_BYTES = 512;       // text keys of presence_tracking_text
const MAX_SESSION_BYTES = 128;   // session ids
const MAX_DATA_BYTES = 1024;     // the JSON attached to a beat
const MAX_BODY_BYTES = 4096;     // a beat with the largest data fits
const STATES = new Set(['viewing', 'editing', 'idle']);
const CHANNEL = 'presence_tracking';

// Queries share a small pool; the LISTEN connection is a client of its own
// (a pooled connection would be handed to other queries and lose it).
const pool = new pg.Pool({ max: 8 });
pool.on('error', (err) => console.error('face-pile: idle pool connection failed:', err.message));

class BadRequest extends Error {}

function checkKey(name, value) {
  if (typeof value !== 'string' || value === '') throw new BadRequest(`${name} is required (text)`);
  if (Buffer.byteLength(value) > MAX_KEY_BYTES) throw new BadRequest(`${name} is longer than ${MAX_KEY_BYTES} bytes`);
  return value;
}

function checkSession(value) {
  if (typeof value !== 'string' || value === '') throw new BadRequest('session is required (text)');
  if (Buffer.byteLength(value) > MAX_SESSION_BYTES) throw new BadRequest(`session is longer than ${MAX_SESSION_BYTES} bytes`);
  return value;
}

function checkState(value) {
  if (value === undefined || value === null) return 'viewing';
  if (!STATES.has(value)) throw new BadRequest('state must be viewing, editing or idle');
  return value;
}

// data: any JSON value up to 1 kB, or null.  Passed to jsonb as its text.
function checkData(value) {
  if (value === undefined || value === null) return null;
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) > MAX_DATA_BYTES) throw new BadRequest(`data is larger than ${MAX_DATA_BYTES} bytes of JSON`);
  return text;
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

function sendText(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text + '\n');
}

// The request body as JSON, whatever its Content-Type: sendBeacon with a
// string sends text/plain.
function readJsonBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    // Past the limit the rest is read and dropped, so that the 400 reaches
    // the client.
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return reject(new BadRequest(`body larger than ${MAX_BODY_BYTES} bytes`));
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error();
        resolve(body);
      } catch {
        reject(new BadRequest('body must be a JSON object'));
      }
    });
    req.on('error', reject);
  });
}

// The settings the page needs, in seconds.  They are durations with units
// ('60s', '2min'), which cast to interval.  NULL when the library is not
// loaded in this session: then it is not preloaded.
async function presenceSettings() {
  const { rows: [row] } = await pool.query(
    `SELECT extract(epoch FROM current_setting('presence_tracking.heartbeat_interval', true)::interval)::float8 AS heartbeat,
            extract(epoch FROM current_setting('presence_tracking.ttl', true)::interval)::float8 AS ttl`);
  if (row.heartbeat === null) {
    throw new Error('presence_tracking.heartbeat_interval is not set: add presence_tracking to shared_preload_libraries');
  }
  return { heartbeatSeconds: row.heartbeat, ttlSeconds: row.ttl };
}

// Everything the page shows, read in one snapshot.
async function artifactState(user, artifact) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const viewers = await client.query(
      `SELECT user_id, version_id, last_seen_at, state, sessions, data
         FROM presence_tracking.active_viewers($1)`, [artifact]);
    const recent = await client.query(
      `SELECT user_id, version_id, last_seen_at, how
         FROM presence_tracking.recent_viewers($1)`, [artifact]);
    // Every version seen under the artifact; unread: this user never viewed it.
    const versions = await client.query(
      `SELECT version_id, NOT coalesce(presence_tracking.has_viewed($2, version_id), false) AS unread
         FROM presence_tracking.artifact_versions
        WHERE artifact_id = $1
        ORDER BY version_id`, [artifact, user]);
    const matrix = await client.query(
      `SELECT user_id, version_id, view_count, last_viewed_at
         FROM presence_tracking.artifact_matrix($1)
        ORDER BY user_id, version_id`, [artifact]);
    await client.query('COMMIT');
    return {
      now: new Date().toISOString(),
      viewers: viewers.rows.map((r) => ({ ...r, sessions: Number(r.sessions) })),
      recent: recent.rows,
      versions: versions.rows,
      matrix: matrix.rows.map((r) => ({ ...r, view_count: Number(r.view_count) })),
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

// --- server-sent events -------------------------------------------------
// The open event streams, by artifact.  One LISTEN connection serves them
// all: PostgreSQL sends each event once to this process, which fans it out.
const streams = new Map();

function addStream(artifact, res) {
  if (!streams.has(artifact)) streams.set(artifact, new Set());
  streams.get(artifact).add(res);
}

function removeStream(artifact, res) {
  const set = streams.get(artifact);
  if (!set) return;
  set.delete(res);
  if (set.size === 0) streams.delete(artifact);
}

function broadcast(artifact, text) {
  for (const res of streams.get(artifact) ?? []) res.write(text);
}

// Events sent while the LISTEN connection was down are lost: after a
// reconnect every page is told to read its state again.
function broadcastResync() {
  for (const set of streams.values()) for (const res of set) res.write('event: resync\ndata: {}\n\n');
}

// Comments keep idle streams open through proxies that close silent ones.
setInterval(() => {
  for (const set of streams.values()) for (const res of set) res.write(': keep-alive\n\n');
}, 15000).unref();

let listener = null;
let listenerRetryMs = 250;
let listenerEverConnected = false;

async function startListener() {
  const client = new pg.Client();
  let failed = false;
  const retry = (err) => {
    if (failed) return;
    failed = true;
    if (listener === client) listener = null;
    console.error(`face-pile: LISTEN connection lost (${err?.message ?? 'ended'}); reconnecting in ${listenerRetryMs} ms`);
    client.end().catch(() => {});
    setTimeout(startListener, listenerRetryMs).unref();
    listenerRetryMs = Math.min(listenerRetryMs * 2, 5000);
  };
  client.on('error', retry);
  client.on('end', () => retry(null));
  client.on('notification', (msg) => {
    if (msg.channel !== CHANNEL) return;
    let event;
    try {
      event = JSON.parse(msg.payload);
    } catch {
      console.error('face-pile: ignoring a payload that is not JSON:', msg.payload);
      return;
    }
    if (typeof event.artifact_id !== 'string') return;
    // The payload as PostgreSQL sent it; the page parses it.
    broadcast(event.artifact_id, `data: ${msg.payload}\n\n`);
  });
  try {
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
  } catch (err) {
    retry(err);
    return;
  }
  listener = client;
  listenerRetryMs = 250;
  if (listenerEverConnected) broadcastResync();
  listenerEverConnected = true;
}

// --- HTTP ---------------------------------------------------------------
const pageTemplate = await readFile(path.join(PUBLIC_DIR, 'index.html'), 'utf8');
const appScript = await readFile(path.join(PUBLIC_DIR, 'app.js'), 'utf8');

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// The page without user, artifact and version: links to try it.
function helpPage(res, message) {
  const base = '/?artifact=design-doc&version=v2&user=';
  res.writeHead(message ? 400 : 200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html><meta charset="utf-8"><title>Face pile</title>
<body style="font-family: system-ui, sans-serif; margin: 2rem">
<h1>Face pile</h1>
${message ? `<p style="color:#b00020">${escapeHtml(message)}</p>` : ''}
<p>Open the page as a user on an artifact version: <code>/?user=&lt;id&gt;&amp;artifact=&lt;id&gt;&amp;version=&lt;id&gt;</code>, for example
<a href="${base}ada">ada</a> and, in another window, <a href="${base}grace">grace</a>.</p>
</body>`);
}

async function servePage(res, params) {
  const user = params.get('user');
  const artifact = params.get('artifact');
  const version = params.get('version');
  if (!user && !artifact && !version) return helpPage(res, null);
  try {
    checkKey('user', user);
    checkKey('artifact', artifact);
    checkKey('version', version);
  } catch (err) {
    if (err instanceof BadRequest) return helpPage(res, err.message);
    throw err;
  }
  // A view on every page load: the permanent record ("did ada see v2?").
  await pool.query('SELECT presence_tracking.record_view($1, $2, $3)', [user, artifact, version]);
  const settings = await presenceSettings();
  const config = { user, artifact, version, ...settings };
  // JSON inside <script>: "<" escaped, so no id can close the element.
  const configJson = JSON.stringify(config).replace(/</g, '\\u003c');
  const html = pageTemplate
    .replace('__CONFIG__', () => configJson)
    .replace('__TITLE__', () => escapeHtml(`${artifact} ${version} - ${user}`));
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

function serveEvents(req, res, params) {
  const artifact = checkKey('artifact', params.get('artifact'));
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
  });
  // retry: the browser reconnects after 1 s when the stream breaks.
  res.write('retry: 1000\n\n');
  addStream(artifact, res);
  req.on('close', () => removeStream(artifact, res));
}

async function serveBeat(req, res) {
  const body = await readJsonBody(req);
  const user = checkKey('user', body.user);
  const artifact = checkKey('artifact', body.artifact);
  const version = checkKey('version', body.version);
  const session = checkSession(body.session);
  const state = checkState(body.state);
  const data = checkData(body.data);
  const { rows: [row] } = await pool.query(
    `SELECT presence_tracking.heartbeat($1, $2, $3, session_id => $4, state => $5, data => $6::jsonb) AS joined`,
    [user, artifact, version, session, state, data]);
  sendJson(res, 200, { joined: row.joined });
}

async function serveLeave(req, res) {
  const body = await readJsonBody(req);
  const user = checkKey('user', body.user);
  const artifact = checkKey('artifact', body.artifact);
  const session = checkSession(body.session);
  const { rows: [row] } = await pool.query(
    'SELECT presence_tracking.leave($1, $2, $3) AS left', [user, artifact, session]);
  sendJson(res, 200, { left: row.left });
}

async function route(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const key = `${req.method} ${url.pathname}`;
  switch (key) {
    case 'GET /': return servePage(res, url.searchParams);
    case 'GET /app.js':
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' });
      return res.end(appScript);
    case 'GET /events': return serveEvents(req, res, url.searchParams);
    case 'GET /api/state': {
      const user = checkKey('user', url.searchParams.get('user'));
      const artifact = checkKey('artifact', url.searchParams.get('artifact'));
      return sendJson(res, 200, await artifactState(user, artifact));
    }
    case 'POST /api/beat': return serveBeat(req, res);
    case 'POST /api/leave': return serveLeave(req, res);
    case 'GET /favicon.ico': res.writeHead(204); return res.end();
    default: return sendText(res, 404, 'not found');
  }
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    // Bad input: ours (BadRequest) or the extension's (SQLSTATE class 22:
    // data exception, 23: a version under another artifact).
    const badInput = err instanceof BadRequest || /^2[23]/.test(err.code ?? '');
    if (!badInput) console.error(`face-pile: ${req.method} ${req.url}:`, err);
    if (res.headersSent) return res.end();
    sendText(res, badInput ? 400 : 500, badInput ? err.message : 'internal error');
  });
});

await startListener();
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`face-pile: listening on http://${HOST}:${port}/`);
});

// Ctrl-C or SIGTERM: close the streams (browsers would keep the server
// open), then the connections.
function shutdown() {
  for (const set of streams.values()) for (const res of set) res.end();
  server.close();
  server.closeAllConnections?.();
  const closing = [pool.end()];
  if (listener) {
    listener.removeAllListeners('end');
    listener.removeAllListeners('error');
    listener.on('error', () => {});
    closing.push(listener.end());
  }
  Promise.allSettled(closing).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
