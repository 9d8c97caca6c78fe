// End to end: the face pile example (examples/face-pile) in headless
// Chromium, as two users see it.  Run by test/browser/run.sh, which starts
// the throwaway server; on its own:
//
//   PGHOST=... PGPORT=... PGUSER=postgres node --test test/browser/face_pile.test.mjs
//
// The server needs presence_tracking preloaded (its background worker
// announces timeouts) and a short TTL: heartbeat_interval = '1s', ttl = '4s'.
// The test creates its own database (FACE_PILE_TEST_DB, default
// face_pile_e2e) and drops it at the end (FACE_PILE_KEEP_DB=1 keeps it for
// a look), starts the example's server on a free port, and drives
// /usr/bin/chromium (CHROMIUM to change) through playwright-core.  It saves a screenshot of the two users' pages side by
// side to examples/face-pile/screenshot.png (FACE_PILE_SCREENSHOT to change).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const exampleDir = path.join(repo, 'examples/face-pile');
// The modules are the example's (scripts/install-browser-deps.sh installs them).
const require = createRequire(path.join(exampleDir, 'package.json'));
const { chromium } = require('playwright-core');
const pg = require('pg');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.FACE_PILE_SCREENSHOT || path.join(exampleDir, 'screenshot.png');
const DATABASE = process.env.FACE_PILE_TEST_DB || 'face_pile_e2e';
const ARTIFACT = 'design-doc';
const LIVE_MS = 1000;         // "within 1 s": what a user sees as live
const SLACK_MS = 2500;        // the background worker announces a timeout within ~1-2 s of the TTL

let db;                        // a connection to the test's database
let web;                       // the example's server, a child process
let baseUrl;
let browser;
let ttlMs;
let heartbeatMs;
const contexts = {};           // one browser context per user
const pages = {};
const timings = [];

// --- helpers --------------------------------------------------------------

// CSS selectors of what the page shows (data-testid and data-* attributes).
const FACE_PILE = '[data-testid="face-pile"]';
const WARNING = '[data-testid="editing-warning"]';
const face = (user, state) => `${FACE_PILE} > [data-user-id="${user}"]${state ? `[data-state="${state}"]` : ''}`;
const recent = (user, how) => `[data-testid="recent"] > [data-user-id="${user}"]${how ? `[data-how="${how}"]` : ''}`;
const versionItem = (version, unread) =>
  `[data-testid="versions"] > [data-version-id="${version}"]${unread ? `[data-unread="${unread}"]` : ''}`;

function pageUrl(user, version) {
  return `${baseUrl}/?${new URLSearchParams({ user, artifact: ARTIFACT, version })}`;
}

// Waits until the selector is attached, detached, visible or hidden in the
// page, within ms since `since`, and records how long it took.  Checked in
// the page every 25 ms, so the times are close to what a user sees.
async function within(ms, what, page, selector, state = 'attached', since = Date.now()) {
  try {
    await page.waitForFunction(([sel, wanted]) => {
      const el = document.querySelector(sel);
      const visible = el !== null && !el.hidden && el.getClientRects().length > 0;
      return { attached: el !== null, detached: el === null, visible, hidden: !visible }[wanted];
    }, [selector, state], { polling: 25, timeout: Math.max(1, ms - (Date.now() - since)) });
  } catch (err) {
    throw new Error(`not within ${ms} ms: ${what} (${selector} ${state}; ${err.message.split('\n')[0]})`);
  }
  const took = Date.now() - since;
  timings.push(`${what}: ${took} ms`);
  return took;
}

const count = (page, selector) => page.locator(selector).count();
const attr = (page, selector, name) => page.locator(selector).getAttribute(name);
const visible = (page, selector) => page.locator(selector).isVisible();

// Returns the page and when its first beat was sent: when the user arrived.
async function openPage(user, version) {
  const page = await contexts[user].newPage();
  page.on('pageerror', (err) => console.error(`[${user}] page error: ${err.message}`));
  let beatSentAt;
  const firstBeatSent = page.waitForRequest((r) => r.url().endsWith('/api/beat')).then(() => { beatSentAt = Date.now(); });
  const firstBeat = page.waitForResponse((r) => r.url().endsWith('/api/beat') && r.ok());
  await page.goto(pageUrl(user, version));
  await Promise.all([firstBeatSent, firstBeat]);
  page.beatSentAt = beatSentAt;
  return page;
}

async function sessionsOf(user) {
  const { rows } = await db.query(
    'SELECT sessions FROM presence_tracking.active_viewers($1) WHERE user_id = $2', [ARTIFACT, user]);
  return rows.length === 0 ? 0 : Number(rows[0].sessions);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Steps depend on the ones before: after a failure the rest are skipped.
let failed = false;
function step(name, fn) {
  test(name, { timeout: 60000 }, async (t) => {
    if (failed) return t.skip('an earlier step failed');
    try {
      await fn(t);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
}

// --- setup and teardown ---------------------------------------------------

function startWebServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['server.js'], {
      cwd: exampleDir,
      env: { ...process.env, PGDATABASE: DATABASE, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the example server did not start:\n${output}`)), 15000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const m = /listening on (http:\/\/\S+?)\/?\s/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
      process.stderr.write(`[server] ${chunk}`);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the example server exited (${code}):\n${output}`));
    });
  });
}

before(async () => {
  const admin = new pg.Client({ database: 'postgres' });
  await admin.connect();
  await admin.query('SET client_min_messages = warning');
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();

  db = new pg.Client({ database: DATABASE });
  await db.connect();
  await db.query('SET client_min_messages = warning');
  await db.query('CREATE EXTENSION presence_tracking_text');
  const { rows: [s] } = await db.query(
    `SELECT extract(epoch FROM current_setting('presence_tracking.ttl')::interval)::float8 * 1000 AS ttl,
            extract(epoch FROM current_setting('presence_tracking.heartbeat_interval')::interval)::float8 * 1000 AS heartbeat`);
  ttlMs = s.ttl;
  heartbeatMs = s.heartbeat;
  assert.ok(ttlMs <= 10000 && heartbeatMs <= 2000,
    `the server needs a short TTL for this test (heartbeat_interval = '1s', ttl = '4s'), has ${heartbeatMs} ms and ${ttlMs} ms`);
  // Someone viewed both versions before: they exist, and are unread for ada.
  await db.query(`SELECT presence_tracking.record_view('linus', $1, 'v1'),
                         presence_tracking.record_view('linus', $1, 'v2')`, [ARTIFACT]);

  ({ child: web, url: baseUrl } = await startWebServer());
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  for (const user of ['ada', 'grace']) {
    contexts[user] = await browser.newContext({ viewport: { width: 640, height: 560 } });
  }
});

after(async () => {
  if (timings.length) console.log(`timings:\n${timings.map((t) => `  ${t}`).join('\n')}`);
  if (browser) await browser.close().catch(() => {});
  if (web && web.exitCode === null) {
    const exited = new Promise((resolve) => web.once('exit', resolve));
    web.kill('SIGTERM');
    await Promise.race([exited, sleep(3000)]);
    if (web.exitCode === null) web.kill('SIGKILL');
  }
  if (db) await db.end().catch(() => {});
  if (process.env.FACE_PILE_KEEP_DB === '1') return console.log(`kept database ${DATABASE}`);
  const admin = new pg.Client({ database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.end();
});

// --- the steps --------------------------------------------------------------

step('a view marks the version read in the page', async () => {
  pages.ada = await openPage('ada', 'v2');
  // The page load recorded the view of v2; v1 only linus has seen.
  await within(LIVE_MS, 'versions listed', pages.ada, versionItem('v1'));
  assert.equal(await attr(pages.ada, versionItem('v1'), 'data-unread'), 'true');
  assert.equal(await attr(pages.ada, versionItem('v2'), 'data-unread'), 'false');
  // Follow the link to v1: the new page load is a view of v1.
  await Promise.all([pages.ada.waitForURL(/version=v1/), pages.ada.locator(`${versionItem('v1')} a`).click()]);
  await within(LIVE_MS, 'v1 read after viewing it', pages.ada, versionItem('v1', 'false'));
  // The matrix counts ada's views of both versions.
  const row = '[data-testid="matrix"] tr[data-user-id="ada"]';
  assert.equal(await pages.ada.locator(`${row} td[data-version-id="v1"]`).textContent(), '1');
  assert.equal(await pages.ada.locator(`${row} td[data-version-id="v2"]`).textContent(), '1');
  // Back to v2 for the rest.
  await pages.ada.close({ runBeforeUnload: true });
  pages.ada = await openPage('ada', 'v2');
  await within(LIVE_MS, 'ada in her own face pile', pages.ada, face('ada'));
});

step('the second user appears in the first one\'s face pile within 1 s', async () => {
  pages.grace = await openPage('grace', 'v2');
  await within(LIVE_MS, 'grace appears in ada\'s face pile (from her first beat)',
    pages.ada, face('grace'), 'attached', pages.grace.beatSentAt);
  await within(LIVE_MS, 'ada in grace\'s face pile', pages.grace, face('ada'));
  assert.equal(await attr(pages.ada, face('grace'), 'data-state'), 'viewing');
  assert.equal(await visible(pages.ada, WARNING), false);
});

step('typing shows editing and the warning to the other user within 1 s, then viewing again', async () => {
  const editor = pages.grace.locator('#editor');
  await editor.click();
  const since = Date.now();
  await editor.press('L');
  await within(LIVE_MS, 'grace editing in ada\'s face pile', pages.ada, face('grace', 'editing'), 'attached', since);
  await within(LIVE_MS, 'the editing warning in ada\'s page', pages.ada, WARNING, 'visible', since);
  assert.match(await pages.ada.locator(WARNING).textContent(), /grace/);
  await editor.pressSequentially('ooks good to me, one question on section 2', { delay: 15 });
  // Grace's own editing warns nobody on her page.
  assert.equal(await visible(pages.grace, WARNING), false);
  assert.equal(await attr(pages.grace, face('grace'), 'data-state'), 'editing');

  // The screenshot for the README: ada sees grace editing, side by side.
  const shots = [await pages.ada.screenshot(), await pages.grace.screenshot()];
  const composer = await browser.newPage({ viewport: { width: 1320, height: 620 } });
  const img = (png, who) => `<figure><img src="data:image/png;base64,${png.toString('base64')}"><figcaption>${who}</figcaption></figure>`;
  await composer.setContent(`<body style="margin:0;padding:12px;background:#d9dde5;display:flex;gap:16px;font-family:sans-serif">
    <style>figure{margin:0}img{display:block;border:1px solid #9aa3b5;border-radius:6px}figcaption{text-align:center;padding-top:6px;color:#333}</style>
    ${img(shots[0], 'ada (v2)')}${img(shots[1], 'grace (v2), typing')}</body>`);
  await writeFile(SCREENSHOT, await composer.screenshot({ fullPage: true }));
  await composer.close();

  // About 3 quiet seconds later, grace is viewing again and the warning goes.
  await within(3000 + 2 * LIVE_MS, 'grace viewing again after she stopped typing', pages.ada, face('grace', 'viewing'));
  await within(LIVE_MS, 'the warning hidden', pages.ada, WARNING, 'hidden');
});

step('closing one of a user\'s two tabs keeps them', async () => {
  pages.ada2 = await openPage('ada', 'v2');
  assert.equal(await sessionsOf('ada'), 2);
  await pages.ada2.close({ runBeforeUnload: true });
  // The beacon ended that session at once; the other keeps ada present.
  const since = Date.now();
  while ((await sessionsOf('ada')) !== 1) {
    assert.ok(Date.now() - since < LIVE_MS, 'the closed tab\'s session did not end within 1 s');
    await sleep(25);
  }
  timings.push(`one of two tabs closed, its session ended: ${Date.now() - since} ms`);
  await sleep(LIVE_MS);
  assert.equal(await count(pages.grace, face('ada')), 1, 'ada left grace\'s face pile with a tab still open');
  assert.equal(await count(pages.grace, recent('ada')), 0);
});

step('closing the last tab removes the user within 1 s (beacon), and shows them in recent', async () => {
  const since = Date.now();
  await pages.ada.close({ runBeforeUnload: true });
  await within(LIVE_MS, 'ada gone from grace\'s face pile after her last tab closed',
    pages.grace, face('ada'), 'detached', since);
  await within(LIVE_MS, 'ada in grace\'s recent list, left', pages.grace, recent('ada', 'left'));
  assert.match(await pages.grace.locator(recent('ada')).textContent(), /seen just now/);
});

step('a tab killed without unload is removed after the TTL, and then shows in recent', async () => {
  pages.ada = await openPage('ada', 'v2');
  await within(LIVE_MS, 'ada back in grace\'s face pile', pages.grace, face('ada'), 'attached', pages.ada.beatSentAt);
  assert.equal(await count(pages.grace, recent('ada')), 0);
  // The renderer crashes: no pagehide, no beacon, no more beats.
  const cdp = await contexts.ada.newCDPSession(pages.ada);
  const crashed = pages.ada.waitForEvent('crash');
  cdp.send('Page.crash').catch(() => {});
  await crashed;
  const killedAt = Date.now();
  // Still present for a while: nothing told the server.
  await sleep(LIVE_MS);
  assert.equal(await count(pages.grace, face('ada')), 1, 'ada left before her TTL ran out');
  // Gone once the TTL since her last beat (at most one interval before the
  // kill) has passed and the worker announced it.
  const took = await within(ttlMs + SLACK_MS, 'killed tab removed (after the TTL)',
    pages.grace, face('ada'), 'detached', killedAt);
  assert.ok(took >= ttlMs - heartbeatMs - 250, `ada removed ${took} ms after the kill, before the TTL (${ttlMs} ms)`);
  await within(LIVE_MS, 'ada in grace\'s recent list, timed out', pages.grace, recent('ada', 'timed_out'));
  await pages.ada.close().catch(() => {});
});
