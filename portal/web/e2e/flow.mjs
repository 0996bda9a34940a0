// The web UI end to end, in Debian's Chromium, against a running portal
// (test/e2e/ui_test.go runs it on the whole platform on a real node):
//
//   sign in → catalog (search, tag filter) → launch the terminal → the start
//   progress → the stream connects → its pixels are a real xterm → typing
//   reaches the session → dashboard card running → hibernate (card button) →
//   wake from the card → hibernated from outside (the dashboard notices) →
//   wake by opening the viewer (progress) → terminate from the card → every
//   page, light and one dark → a non-admin is kept out of the admin.
//
//   PORTAL_URL=http://127.0.0.1:8443 ADMIN_USER=admin ADMIN_PASSWORD=… \
//   USER_NAME=… USER_PASSWORD=… OUT_DIR=… node e2e/flow.mjs
//
// It hibernates first with the session card's "Hibernate" button (when the
// card has none, and the second time always) by printing
// "E2E-HIBERNATE <session>": whoever runs it (the Go test) then hibernates
// the session, and the script waits for the dashboard to show it. It prints
// "E2E-SESSION <session>" once launched and "E2E-TYPED <file>" once it typed
// a command writing that file in the session's home. Screenshots, named by
// step, go to OUT_DIR (default test-output/ui at the repository's root). Any
// console error or uncaught exception on any page fails the run at the end.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserErrors, canvasStats, describeCanvas, keepOnPortal, launchBrowser, poll, prepareOutDir } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
};
const PORTAL = env('PORTAL_URL').replace(/\/$/, '');
const ADMIN = { name: env('ADMIN_USER', 'admin'), password: env('ADMIN_PASSWORD') };
const USER = { name: env('USER_NAME'), password: env('USER_PASSWORD') };
const OUT = path.resolve(env('OUT_DIR', path.join(here, '..', '..', '..', 'test-output', 'ui')));
const TERMINAL = { name: 'terminal-local', title: 'Terminal (local image)' };
const FIREFOX = { name: 'firefox-local', title: 'Firefox (local image)' };
// What is typed in the session: a file the Go test finds in the home volume.
const TYPED_FILE = 'ui-e2e.txt';
const TYPED_TEXT = 'typed-in-chromium';

// Bounded waits: a start takes about 5 s on the local node.
const START_MS = 90_000;
const HIBERNATE_MS = 60_000;
const UI_MS = 20_000;

const errors = new BrowserErrors();
const started = Date.now();
let shot = 0;
let current; // the page of the step under way, for the failure screenshot
let offSite; // the admin's requests that would have left the portal

async function screenshot(page, name, opts = {}) {
  const file = path.join(OUT, `${String(++shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled', ...opts });
  console.log(`  screenshot ${path.relative(process.cwd(), file)}`);
}

async function step(name, fn) {
  errors.step = name;
  const t0 = Date.now();
  console.log(`--- ${name}`);
  await fn();
  console.log(`    ok (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

/** Waits until a page has loaded its data: no skeleton, no "Loading" status, no error state. */
async function settled(page, title) {
  await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor({ timeout: UI_MS });
  await poll(`${page.url()} loads`, UI_MS, async () => {
    const loading = await page.locator('.MuiSkeleton-root, [role="status"][aria-label="Loading"]').count();
    return { ok: loading === 0, state: `${loading} loading placeholders` };
  });
  const failed = await page.getByText(/could not be loaded/).allTextContents();
  if (failed.length) throw new Error(`${page.url()}: ${failed.join('; ')}`);
}

async function signIn(page, who) {
  await page.goto(PORTAL + '/login');
  await page.getByLabel('Username').fill(who.name);
  await page.getByLabel(/^Password/).fill(who.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard', { timeout: UI_MS });
  await settled(page, 'My sessions');
}

/** Signed out, the app asks who is signed in (401) before it shows the form: the browser logs that failed load. */
function expectSignedOut401s() {
  errors.expect(
    'signed out, the login page asks /users/me (and tries a renewal) and gets 401',
    (e) => e.kind === 'console.error' && /status of 401/.test(e.text) && /\/api\/v1\/(users\/me|auth\/refresh)$/.test(e.url),
  );
}

function card(page, session) {
  return page.getByTestId(`session-card-${session}`);
}

async function cardState(page, session, states, ms) {
  const c = card(page, session);
  return poll(`session card ${session} ${states.join(' or ')}`, ms, async () => {
    const state = (await c.count()) ? await c.getAttribute('data-state') : 'absent';
    return { ok: states.includes(state), state };
  });
}

/** Waits for the viewer to stream and its canvas to show more than one flat colour. */
async function streaming(page, label) {
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: START_MS });
  await page.getByTestId('viewer').locator('canvas').waitFor({ timeout: UI_MS });
  const { stats } = await poll(`${label}: the streamed xterm paints (not one flat colour)`, 20_000, async () => {
    const stats = await canvasStats(page);
    return { ok: stats && stats.colours >= 2 && stats.others >= 50, stats, state: describeCanvas(stats) };
  });
  console.log(`  canvas: ${describeCanvas(stats)}`);
  return stats;
}

/**
 * Hibernates the session with the card's "Hibernate" button when it has one,
 * or, when asked to (or the card has none), has the runner (the Go test)
 * hibernate it from outside, as the idle timeout would: the dashboard must
 * then notice by itself.
 */
async function hibernate(page, session, { fromOutside = false } = {}) {
  const c = card(page, session);
  const button = c.getByRole('button', { name: 'Hibernate', exact: true });
  if (!fromOutside && (await button.count())) {
    await button.click();
    // a confirmation, if the UI asks for one
    const confirm = page.getByRole('dialog').getByRole('button', { name: 'Hibernate', exact: true });
    if (await confirm.isVisible({ timeout: 1000 }).catch(() => false)) await confirm.click();
    console.log('  hibernated with the card\'s "Hibernate" button');
  } else {
    if (!fromOutside) console.log('  the card has no "Hibernate" button: the runner hibernates the session');
    console.log(`E2E-HIBERNATE ${session}`);
  }
  // no reload: the dashboard shows it by itself (its polling)
  await cardState(page, session, ['hibernated'], HIBERNATE_MS);
  await c.getByRole('button', { name: 'Wake', exact: true }).waitFor({ timeout: UI_MS });
}

const browser = await launchBrowser();
let failed;
try {
  await prepareOutDir(OUT);
  console.log(`Chromium ${browser.version()} on ${PORTAL}; screenshots in ${OUT}`);
  const admin = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  offSite = await keepOnPortal(admin, PORTAL);
  const page = await admin.newPage();
  errors.watch(page, 'admin');
  current = page;
  let session;

  await step('sign in as admin', async () => {
    expectSignedOut401s();
    await page.goto(PORTAL + '/login');
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    await screenshot(page, 'login');
    // a wrong password is refused, in words
    await page.getByLabel('Username').fill(ADMIN.name);
    await page.getByLabel(/^Password/).fill('not-the-password');
    errors.expect(
      'the wrong password is answered 401 on purpose',
      (e) => /status of 401/.test(e.text) && e.url.endsWith('/api/v1/auth/login'),
    );
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor({ timeout: UI_MS });
    await signIn(page, ADMIN);
    await screenshot(page, 'dashboard-empty');
  });

  await step('catalog: search and filter', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
    await settled(page, 'Catalog');
    const terminal = page.getByTestId(`template-card-${TERMINAL.name}`);
    const firefox = page.getByTestId(`template-card-${FIREFOX.name}`);
    await terminal.waitFor();
    await firefox.waitFor();
    await screenshot(page, 'catalog');
    await page.getByLabel('Search apps').fill('xterm');
    await firefox.waitFor({ state: 'detached' });
    await terminal.waitFor();
    await screenshot(page, 'catalog-search-xterm');
    await page.getByLabel('Search apps').fill('');
    await firefox.waitFor(); // rendered: the chips act on the filter shown
    await page.getByRole('group', { name: 'Filter by tag' }).getByRole('button', { name: 'browser', exact: true }).click();
    await terminal.waitFor({ state: 'detached' });
    await firefox.waitFor();
    if (!new URL(page.url()).searchParams.getAll('tag').includes('browser'))
      throw new Error(`the tag filter is not in the URL: ${page.url()}`);
    await screenshot(page, 'catalog-tag-browser');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await terminal.waitFor();
  });

  await step('launch the terminal: progress, then the stream', async () => {
    await page.getByRole('button', { name: `Launch ${TERMINAL.title}`, exact: true }).click();
    await page.waitForURL('**/session/*', { timeout: UI_MS });
    session = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    console.log(`E2E-SESSION ${session}`);
    await page.getByTestId('start-progress').waitFor({ timeout: UI_MS });
    await page.getByRole('heading', { name: `Launching ${TERMINAL.title}` }).waitFor({ timeout: UI_MS });
    await screenshot(page, 'launch-progress');
    const t0 = Date.now();
    await streaming(page, 'launch');
    console.log(`  connected ${((Date.now() - t0) / 1000).toFixed(1)}s after the progress showed`);
    await screenshot(page, 'session-streaming');
  });

  await step('type in the session', async () => {
    const canvas = page.getByTestId('viewer').locator('canvas');
    const before = await canvasStats(page);
    await canvas.click(); // focus, with the pointer over the xterm (no window manager: focus follows it)
    await page.keyboard.type(`echo ${TYPED_TEXT} > ${TYPED_FILE}`, { delay: 20 });
    await page.keyboard.press('Enter');
    const { stats } = await poll('the typed command shows in the stream', 10_000, async () => {
      const stats = await canvasStats(page);
      return { ok: stats && stats.hash !== before.hash && stats.others > before.others, stats, state: describeCanvas(stats) };
    });
    console.log(`  canvas after typing: ${describeCanvas(stats)}`);
    console.log(`E2E-TYPED ${TYPED_FILE}`);
    await screenshot(page, 'session-typed');
  });

  await step('dashboard: the session runs', async () => {
    await page.getByRole('link', { name: 'Back to my sessions' }).click();
    await page.waitForURL('**/dashboard');
    await settled(page, 'My sessions');
    await cardState(page, session, ['running'], UI_MS);
    await card(page, session).getByRole('link', { name: 'Connect' }).waitFor();
    await screenshot(page, 'dashboard-running');
  });

  await step("hibernate with the card's button", async () => {
    await hibernate(page, session);
    await screenshot(page, 'dashboard-hibernated');
  });

  await step('wake from the card', async () => {
    await card(page, session).getByRole('button', { name: 'Wake', exact: true }).click();
    const { state } = await cardState(page, session, ['starting', 'running'], UI_MS);
    if (state === 'starting') {
      // a wake, not the launch before the sleep
      const doing = await card(page, session)
        .getByText(/^(Waking|Launching):/)
        .textContent();
      if (!doing.startsWith('Waking')) throw new Error(`the card of a waking session says "${doing}"`);
      await screenshot(page, 'dashboard-waking');
    }
    await cardState(page, session, ['running'], START_MS);
    await screenshot(page, 'dashboard-woken');
  });

  await step('hibernate again, from outside the page', async () => {
    await hibernate(page, session, { fromOutside: true });
    await screenshot(page, 'dashboard-hibernated-from-outside');
  });

  await step('wake by opening the viewer: progress, then the stream', async () => {
    await page.goto(`${PORTAL}/session/${encodeURIComponent(session)}`);
    const progress = page.getByTestId('start-progress');
    await progress.waitFor({ timeout: UI_MS });
    await page.getByRole('heading', { name: `Waking ${TERMINAL.title}` }).waitFor({ timeout: UI_MS });
    // the wake's own steps, once the portal reports them (unless it streams already)
    const connected = page.locator('[data-testid="connection-state"][data-state="connected"]');
    const { step: at } = await poll(
      'the wake reports its steps',
      START_MS,
      async () => {
        const step = (await progress.count()) ? await progress.getAttribute('data-step') : 'gone';
        return { ok: (step !== 'none' && step !== null) || (await connected.count()) > 0, step, state: step };
      },
      100,
    );
    console.log(`  progress at step ${at}`);
    if (at !== 'gone') await screenshot(page, 'wake-progress');
    await streaming(page, 'wake');
    await screenshot(page, 'session-woken');
  });

  await step('terminate from the card', async () => {
    await page.getByRole('link', { name: 'Back to my sessions' }).click();
    await settled(page, 'My sessions');
    await cardState(page, session, ['running'], UI_MS);
    await card(page, session).getByRole('button', { name: 'Terminate', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await screenshot(page, 'terminate-confirm');
    await dialog.getByRole('button', { name: 'Terminate', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    // ended sessions are hidden until asked for
    await card(page, session).waitFor({ state: 'detached', timeout: UI_MS });
    await page.getByLabel(/Show ended sessions/).check();
    await cardState(page, session, ['terminated'], UI_MS);
    await card(page, session)
      .getByText(/^Ended\./)
      .waitFor();
    await screenshot(page, 'dashboard-terminated');
  });

  await step('every page loads (light)', async () => {
    const pages = [
      ['/dashboard', 'My sessions'],
      ['/catalog', 'Catalog'],
      ['/settings/tokens', 'API tokens'],
      ['/admin/users', 'Users', () => page.getByRole('row').filter({ hasText: USER.name }).waitFor()],
      ['/admin/templates', 'Templates', () => page.getByText(TERMINAL.title).first().waitFor()],
      ['/admin/quotas', 'Quotas'],
      ['/admin/analytics', 'Analytics', () => page.getByText('Per template').waitFor()],
      ['/admin/sync', 'Git sync'],
    ];
    for (const [url, title, check] of pages) {
      await page.goto(PORTAL + url);
      await settled(page, title);
      if (check) await check();
      await screenshot(page, 'page' + url.replaceAll('/', '-'), { fullPage: true });
    }
  });

  await step('dark theme', async () => {
    await page.goto(PORTAL + '/admin/analytics');
    await settled(page, 'Analytics');
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    await page.getByRole('button', { name: 'Switch to light theme' }).waitFor();
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    if (r + g + b > 3 * 80) throw new Error(`dark theme: the page background is ${bg}`);
    await page.mouse.move(0, 0); // no tooltip in the picture
    await screenshot(page, 'page-admin-analytics-dark', { fullPage: true });
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
    await page.getByRole('button', { name: 'Switch to dark theme' }).waitFor();
  });

  await step('a user who is not an admin', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    await keepOnPortal(ctx, PORTAL);
    const user = await ctx.newPage();
    errors.watch(user, USER.name);
    current = user;
    expectSignedOut401s();
    await signIn(user, USER);
    const nav = user.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Sessions' }).waitFor();
    for (const name of ['Users', 'Templates', 'Quotas', 'Analytics', 'Sync']) {
      if (await nav.getByRole('link', { name, exact: true }).count()) throw new Error(`a non-admin sees the admin link "${name}"`);
    }
    await user.goto(PORTAL + '/admin/users');
    await user.getByRole('heading', { name: 'Not allowed' }).waitFor({ timeout: UI_MS });
    if (await user.getByRole('table').count()) throw new Error('a non-admin sees a table on /admin/users');
    await screenshot(user, 'user-admin-not-allowed');
    // the API says no as well, not only the page
    const x = errors.expect(
      'a deliberate call to an admin API as a non-admin: 403 expected',
      (e) => /status of 403/.test(e.text) && e.url.endsWith('/api/v1/admin/users'),
    );
    const status = await user.evaluate(async () => (await fetch('/api/v1/admin/users')).status);
    if (status !== 403) throw new Error(`GET /api/v1/admin/users as a non-admin: ${status}, want 403`);
    await user.waitForTimeout(200); // the console message of that load
    console.log(`  GET /api/v1/admin/users as ${USER.name}: ${status} (${x.seen} browser log line(s) filtered)`);
    await ctx.close();
    current = page;
  });
} catch (err) {
  failed = err;
  console.log(`FAILED in "${errors.step}": ${err.stack || err}`);
  if (current) {
    console.log(`  at ${current.url()}`);
    await screenshot(current, 'FAILED').catch((e) => console.log(`  no failure screenshot: ${e.message}`));
  }
} finally {
  await browser.close();
}

console.log(`${shot} screenshots in ${OUT}; ${((Date.now() - started) / 1000).toFixed(1)}s`);
if (offSite) console.log(`off-site requests answered with a stand-in icon: ${offSite.offSite()}`);
if (errors.errors.length) {
  console.log(`${errors.errors.length} browser error(s):\n  ${errors.errors.join('\n  ')}`);
}
if (failed || errors.errors.length) process.exit(1);
console.log('PASS');
