// The real viewer in Chromium across a portal restart (driven by
// portal_restart_test.go): sign in, open the session, wait until it streams,
// say CONNECTED and wait for the runner to restart the portal; then record
// every connection state the viewer shows until it streams again by
// itself, type into the session (activity the restarted portal records),
// and print RESULT {json}.
//
// Uses the web UI's own helpers and playwright-core from UI_DIR
// (portal/web), imported by absolute path.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const { PORTAL_URL, SESSION, USER_NAME, USER_PASSWORD, UI_DIR } = process.env;
const { launchBrowser, poll } = await import(pathToFileURL(path.join(UI_DIR, 'e2e', 'lib.mjs')).href);

const browser = await launchBrowser();
let code = 0;
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(PORTAL_URL + '/login');
  await page.getByLabel('Username').fill(USER_NAME);
  await page.getByLabel(/^Password/).fill(USER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard', { timeout: 30_000 });
  await page.goto(`${PORTAL_URL}/session/${encodeURIComponent(SESSION)}`);
  const chip = page.getByTestId('connection-state');
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 60_000 });
  await page.getByTestId('viewer').locator('canvas').waitFor({ timeout: 30_000 });
  // Every state the chip takes from here on, however briefly.
  await page.evaluate(() => {
    window.__states = [];
    const note = () => {
      const s = document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state') ?? 'none';
      if (window.__states.at(-1) !== s) window.__states.push(s);
    };
    note();
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });
  console.log('CONNECTED');
  // The runner restarts the portal now; the viewer must notice the drop…
  await poll('the viewer notices the stream dropped', 60_000, async () => {
    const states = await page.evaluate(() => window.__states);
    return { ok: states.some((s) => s !== 'connected'), state: states.join(' → ') };
  }, 50);
  const dropped = Date.now();
  // …and stream again with nobody clicking anything.
  await poll('the viewer streams again by itself', 90_000, async () => {
    const states = await page.evaluate(() => window.__states);
    return { ok: states.length > 2 && states.at(-1) === 'connected', state: states.join(' → ') };
  }, 50);
  const reconnectMs = Date.now() - dropped;
  await page.getByTestId('viewer').locator('canvas').waitFor({ timeout: 30_000 });
  // Input through the new stream: the person goes on working.
  const canvas = page.getByTestId('viewer').locator('canvas');
  await canvas.click();
  await page.keyboard.type('back');
  await canvas.hover({ position: { x: 40, y: 40 } });
  const states = await page.evaluate(() => window.__states);
  console.log('RESULT ' + JSON.stringify({ states, reconnectMs, finalState: await chip.getAttribute('data-state') }));
} catch (err) {
  console.log('FAILED ' + (err.stack || err));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
