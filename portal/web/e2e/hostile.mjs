// A hostile session page, loaded as the viewer loads it (the portal's
// sandboxed frame on the session's apps host), in Debian's Chromium. The
// page (served by portal/hostile_browser_test.go's stand-in session) tries
// its attacks and posts what it got to its own server; this script signs in,
// opens the viewer, waits for the page to finish, then reads what only the
// browser can tell: what the page's frame of the portal shows, the portal
// origin's service workers and cookies. It prints one line, RESULT {json}.
import { launchBrowser } from './lib.mjs';

const PORTAL = process.env.PORTAL_URL;
const SESSION = process.env.SESSION;
const MS = 30_000;

const browser = await launchBrowser();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(PORTAL + '/login');
  await page.getByLabel('Username').fill(process.env.USER_NAME);
  await page.getByLabel(/^Password/).fill(process.env.USER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard', { timeout: MS });

  await page.goto(`${PORTAL}/session/${encodeURIComponent(SESSION)}`);
  const appsOrigin = new URL(PORTAL.replace('://', `://${SESSION}.`)).origin;
  const deadline = Date.now() + MS;
  let hostile;
  while (!hostile && Date.now() < deadline) {
    hostile = page.frames().find((f) => f.url().startsWith(appsOrigin + '/') && !f.url().includes('/_streamspace/'));
    if (!hostile) await page.waitForTimeout(200);
  }
  if (!hostile) throw new Error(`no frame on ${appsOrigin}: ${page.frames().map((f) => f.url()).join(', ')}`);
  const sandbox = await page.locator('[data-testid="viewer"] iframe').getAttribute('sandbox');
  await hostile.waitForFunction(() => window.hostileDone === true, null, { timeout: MS });

  // the page's frame of the portal: what it shows, if anything
  const framed = hostile.childFrames().map((f) => f.url());
  const framedContent = [];
  for (const f of hostile.childFrames()) {
    framedContent.push(await f.evaluate(() => document.body?.innerText?.slice(0, 200) ?? '').catch((e) => `unreadable: ${e.message}`));
  }
  const portalWorkers = await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).map((r) => r.scope));
  const portalCookies = (await context.cookies(PORTAL)).map((c) => `${c.name}=${c.value.slice(0, 12)};domain=${c.domain}`);
  console.log('RESULT ' + JSON.stringify({ sandbox, framed, framedContent, portalWorkers, portalCookies }));
} finally {
  await browser.close();
}
