// The plugin pages in Debian's Chromium, against the real portal of
// portal/plugins_browser_test.go (its GitHub stand-in merges each pull
// request and applies the Plugin as the agent would): an admin browses the
// catalog, installs the audit exporter, approves its permission, enables
// it, configures it through the form its JSON Schema generates (the form's
// own refusal first), sees its deliveries, and disables it. Any browser
// error fails the run.
import path from 'node:path';
import { BrowserErrors, launchBrowser, poll, prepareOutDir } from './lib.mjs';

const PORTAL = process.env.PORTAL_URL;
const OUT = process.env.OUT_DIR;
const MS = 30_000;

function check(cond, what) {
  if (!cond) throw new Error(what);
  console.log('ok: ' + what);
}

const errors = new BrowserErrors();
const browser = await launchBrowser();
let page;
const step = async (name, fn) => {
  errors.step = name;
  console.log(`— ${name}`);
  try {
    await fn();
  } finally {
    if (OUT) await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true }).catch(() => {});
  }
};
const text = (testid, scope = page) => scope.getByTestId(testid).innerText();
const waitText = async (locator, re) => {
  const deadline = Date.now() + MS;
  for (;;) {
    const t = await locator.innerText().catch(() => '');
    if (re.test(t)) return t;
    if (Date.now() > deadline) throw new Error(`waited for ${re} in ${locator}, last: ${JSON.stringify(t)}`);
    await page.waitForTimeout(200);
  }
};
/** The installed page, loaded afresh (the agent applied the last merge). */
const installedCard = async () => {
  await page.goto(PORTAL + '/plugins/installed');
  const card = page.getByTestId('installed-audit-exporter');
  await card.waitFor({ timeout: MS });
  return card;
};

try {
  if (OUT) await prepareOutDir(OUT);
  const context = await browser.newContext();
  page = await context.newPage();
  errors.watch(page, 'portal');

  await step('sign-in', async () => {
    errors.expect(
      'signed out, the app asks who it is and tries a renewal first',
      (e) => e.kind === 'console.error' && /status of 401/.test(e.text) && /\/api\/v1\/(users\/me|auth\/refresh)$/.test(e.url),
    );
    await page.goto(PORTAL + '/login');
    await page.getByLabel('Username').fill(process.env.USER_NAME);
    await page.getByLabel(/^Password/).fill(process.env.USER_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL('**/dashboard', { timeout: MS });
  });

  await step('catalog', async () => {
    await page.getByRole('link', { name: 'Plugins' }).first().click();
    await page.waitForURL('**/plugins/catalog');
    await page.getByTestId('plugin-card-audit-exporter').waitFor({ timeout: MS });
    check((await page.getByTestId(/^plugin-card-/).count()) === 3, 'the catalog shows the three plugins');
    await page.getByRole('searchbox', { name: 'Search plugins' }).fill('watch');
    const cards = page.getByTestId(/^plugin-card-/);
    await poll('the search narrows the cards', MS, async () => ({ ok: (await cards.count()) === 1, state: await cards.count() }));
    check(await page.getByTestId('plugin-card-night-watch').isVisible(), 'the search narrows it to Night watch');
    await page.getByRole('searchbox', { name: 'Search plugins' }).fill('');
    await page.getByLabel('Type').click();
    await page.getByRole('option', { name: 'Webhook' }).click();
    await poll('the type filter', MS, async () => ({ ok: (await cards.count()) === 1, state: await cards.count() }));
    check(await page.getByTestId('plugin-card-audit-exporter').isVisible(), 'the type filter keeps the webhook');
    const chip = page.getByTestId('plugin-card-audit-exporter').getByTestId('plugin-type');
    const colour = await chip.evaluate((el) => getComputedStyle(el).backgroundColor);
    check(colour !== 'rgba(0, 0, 0, 0)' && colour !== 'rgb(255, 255, 255)', `the webhook type has its colour (${colour})`);
    await page.getByRole('button', { name: 'Audit exporter: details' }).click();
    const detail = page.getByTestId('plugin-detail');
    check(/low risk/.test(await text('permission-events:session.*', detail)), 'the detail shows the permission and its risk');
  });

  await step('install', async () => {
    const detail = page.getByTestId('plugin-detail');
    await detail.getByRole('button', { name: 'Install…' }).click();
    const form = detail.getByTestId('install-form');
    await form.getByLabel(/endpoint/i).fill('https://siem.example.com/in');
    await form.getByRole('button', { name: 'Propose install' }).click();
    const result = await waitText(detail.getByTestId('change-result'), /Pull request #1 opened/);
    check(result.includes('policies/plugins/audit-exporter.yaml'), 'the install is pull request #1 adding the Plugin YAML');
    await detail.getByRole('button', { name: 'Close' }).last().click();
  });

  await step('approve', async () => {
    await page.goto(PORTAL + '/admin/plugins');
    check(
      /plugin\.yaml:3/.test(await waitText(page.getByTestId('broken-browser-plugins'), /plugin\.yaml:3/)),
      'the admin page shows the broken manifest by file:line',
    );
    const waiting = page.getByTestId('approval-audit-exporter');
    await waiting.waitFor({ timeout: MS });
    await waiting.getByRole('button', { name: 'Review permissions' }).click();
    const dialog = page.getByTestId('approve-dialog');
    await dialog.getByRole('checkbox', { name: /events:session/ }).check();
    await dialog.getByRole('button', { name: 'Propose approval' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #2 opened/);
    check(true, 'the approval is pull request #2');
    await waitText(page.locator('main'), /pull request #2/);
    check(true, 'the proposed changes list links the pull requests');
  });

  await step('enable', async () => {
    const card = await installedCard();
    check(/Disabled/.test(await text('plugin-ready', card)), 'approved but off: Ready is False, Disabled');
    await card.getByRole('button', { name: 'Enable' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #3 opened/);
    const again = await installedCard();
    check(/Ready/.test(await text('plugin-ready', again)), 'merged and applied: Ready');
  });

  await step('configure', async () => {
    const card = await installedCard();
    await card.getByRole('button', { name: 'Configure' }).click();
    const dialog = page.getByTestId('configure-dialog');
    check(
      (await dialog.getByLabel(/endpoint/i).inputValue()) === 'https://siem.example.com/in',
      'the generated form holds the current configuration',
    );
    errors.expect(
      'rjsf logs the errors of a form it refused to submit',
      (e) => e.kind === 'console.error' && /^Form validation failed/.test(e.text),
    );
    await dialog.getByLabel(/batch/i).fill('500');
    await dialog.getByRole('button', { name: 'Propose configuration' }).click();
    await waitText(dialog, /must be <= 100/);
    check(true, 'the form refuses a value over the schema maximum, before sending');
    await dialog.getByLabel(/batch/i).fill('50');
    await dialog.getByRole('button', { name: 'Propose configuration' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #4 opened/);
    check(true, 'the configuration is pull request #4');
  });

  await step('deliveries', async () => {
    const card = await installedCard();
    check(/42 delivered · 1 failed/.test(await text('plugin-delivery', card)), 'the delivery state shows');
  });

  await step('disable', async () => {
    const card = await installedCard();
    await card.getByRole('button', { name: 'Disable' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #5 opened/);
    const again = await installedCard();
    check((await text('plugin-enabled', again)) === 'disabled', 'merged and applied: disabled');
  });
} finally {
  await browser.close();
}
if (errors.errors.length > 0) {
  console.log('BROWSER ERRORS:\n' + errors.errors.join('\n'));
  process.exit(1);
}
console.log('PASS');
