// A template's own web client end to end, in Debian's Chromium, step by
// step as test/e2e/webclient_test.go asks on stdin (one command a line);
// the Go test checks the cluster and the home volume between the steps.
// Each command is answered by one line, "OK <json>" or "ERR <message>";
// anything else printed is a log line.
//
//   signin <user> <password>   sign in on the portal
//   launch <template> <title>  launch from the catalog; answers the session,
//                              the page's and the frame's origins and the
//                              time to the first painted frame
//   type <text…>               click into the session and type text, Enter
//   key                        a person at the keyboard: click into the
//                              session, press Shift (answering "Still
//                              there?" first when it shows)
//   step <name>                name what follows, for browser errors
//   hibernated <title>         wait until the viewer shows the session asleep
//   wake                       press Wake; answers the time to the first
//                              painted frame again
//   errors                     the browser errors so far, by step
//   quit
//
//   PORTAL_URL=http://localhost:8443 OUT_DIR=… node e2e/webclient.mjs
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { BrowserErrors, canvasStats, describeCanvas, keepOnPortal, launchRegularProfile, poll } from './lib.mjs';

const PORTAL = (process.env.PORTAL_URL ?? '').replace(/\/$/, '');
const OUT = process.env.OUT_DIR ?? '.';
if (!PORTAL) {
  console.error('PORTAL_URL is not set');
  process.exit(2);
}
const portal = new URL(PORTAL);
// the portal's apps hosts: <session>.<its host>, on its scheme and port
// (make run: <session>.localhost)
const appsHost = (url) => url.protocol === portal.protocol && url.port === portal.port && url.hostname.endsWith('.' + portal.hostname);

const START_MS = 90_000;
const UI_MS = 20_000;
// noVNC 1.3's canvas, in the pod's own page
const NOVNC_CANVAS = '#noVNC_container canvas';

const errors = new BrowserErrors();
// On *.localhost the session's page (<session>.localhost) is another site
// than the portal's (localhost): a third party in the portal's page, which
// Chromium denies its own storage (noVNC's settings in localStorage) while
// it blocks third-party cookies, as it does by default. A person running
// `make run` allows them (README); this profile does the same.
// A real apps domain (x.apps.example.com beside portal.example.com) is the
// portal's own site and needs none of this.
const profile = await mkdtemp(path.join(os.tmpdir(), 'webclient-'));
await mkdir(path.join(profile, 'Default'));
await writeFile(
  path.join(profile, 'Default', 'Preferences'),
  JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }),
);
const context = await launchRegularProfile(profile, { viewport: { width: 1280, height: 800 } });
await keepOnPortal(context, PORTAL, appsHost);
const page = context.pages()[0] ?? (await context.newPage());
errors.watch(page, 'user');

/** The session's frame, once its element is there. */
async function frame(ms = UI_MS) {
  const el = await page.locator('[data-testid="viewer"] iframe').elementHandle({ timeout: ms });
  const f = await el.contentFrame();
  if (!f) throw new Error('the viewer frame has no document');
  return f;
}

/** Waits for the web client in the frame to paint the session (not one flat colour). */
async function painted(ms) {
  const { stats } = await poll('the web client paints the session', ms, async () => {
    const f = await frame(ms).catch(() => null);
    const stats = f && (await canvasStats(f, NOVNC_CANVAS).catch(() => null));
    return { ok: stats && stats.colours >= 2 && stats.others >= 50, stats, state: describeCanvas(stats) };
  });
  return stats;
}

async function clickIntoSession() {
  let asked = false;
  for (let attempt = 1; ; attempt++) {
    const dialog = page.getByRole('dialog', { name: 'Still there?' });
    if (await dialog.isVisible()) {
      asked = true;
      await dialog.getByRole('button', { name: 'OK' }).click();
      await dialog.waitFor({ state: 'detached', timeout: UI_MS });
    }
    try {
      await (await frame()).locator(NOVNC_CANVAS).click({ timeout: 3000 });
      return asked;
    } catch (err) {
      // the warning opened meanwhile (the session was re-read): answer it, click again
      if (attempt === 5) throw err;
    }
  }
}

const commands = {
  async signin(user, password) {
    errors.expect('signed out, the login page asks who is signed in and gets 401', (e) => /status of 401/.test(e.text));
    await page.goto(PORTAL + '/login');
    await page.getByLabel('Username').fill(user);
    await page.getByLabel(/^Password/).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL('**/dashboard', { timeout: UI_MS });
    return {};
  },

  async launch(template, ...title) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
    await page.getByTestId(`template-card-${template}`).waitFor({ timeout: UI_MS });
    const t0 = Date.now();
    await page.getByRole('button', { name: `Launch ${title.join(' ')}`, exact: true }).click();
    await page.waitForURL('**/session/*', { timeout: UI_MS });
    const session = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    console.log(`E2E-SESSION ${session}`);
    const stats = await painted(START_MS);
    const firstFrameMs = Date.now() - t0;
    console.log(`  frame canvas: ${describeCanvas(stats)}`);
    await page.screenshot({ path: path.join(OUT, 'webclient-launched.png') });
    const f = await frame();
    return {
      session,
      firstFrameMs,
      pageOrigin: await page.evaluate(() => location.origin),
      frameOrigin: await f.evaluate(() => location.origin),
      frameURL: f.url(),
    };
  },

  async type(...words) {
    const before = await canvasStats(await frame(), NOVNC_CANVAS);
    await clickIntoSession();
    await page.keyboard.type(words.join(' '), { delay: 20 });
    await page.keyboard.press('Enter');
    await poll('the typed command shows in the session', 10_000, async () => {
      const stats = await canvasStats(await frame(), NOVNC_CANVAS);
      return { ok: stats && stats.hash !== before?.hash, state: describeCanvas(stats) };
    });
    await page.screenshot({ path: path.join(OUT, 'webclient-typed.png') });
    return {};
  },

  async key() {
    const asked = await clickIntoSession();
    await page.keyboard.press('Shift');
    return { askedStillThere: asked };
  },

  async step(name) {
    errors.step = name;
    return {};
  },

  async hibernated(...title) {
    const t0 = Date.now();
    await page.getByRole('heading', { name: `${title.join(' ')} is hibernating` }).waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(OUT, 'webclient-hibernated.png') });
    return { shownAfterMs: Date.now() - t0 };
  },

  async wake() {
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Wake', exact: true }).click();
    const stats = await painted(START_MS);
    console.log(`  frame canvas after the wake: ${describeCanvas(stats)}`);
    await page.screenshot({ path: path.join(OUT, 'webclient-woken.png') });
    return { wakeMs: Date.now() - t0 };
  },

  async errors() {
    return { errors: errors.errors };
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const [name, ...args] = line.trim().split(/\s+/);
  if (name === 'quit') break;
  try {
    if (!commands[name]) throw new Error(`unknown command ${name}`);
    console.log('OK ' + JSON.stringify(await commands[name](...args)));
  } catch (err) {
    await page.screenshot({ path: path.join(OUT, `webclient-failed-${name}.png`) }).catch(() => {});
    console.log('ERR ' + String(err?.message ?? err).replace(/\s+/g, ' '));
  }
}
await context.close();
await rm(profile, { recursive: true, force: true });
