// The plugin pages in Debian's Chromium, against the real portal of
// portal/plugins_browser_test.go (its GitHub stand-in merges each pull
// request; the agent's GitSync and plugin controllers and the portal's
// dispatcher run for real): the sign-in page wears the enabled theme
// (name, logo, title); an admin browses the catalog, installs the audit exporter, approves its
// permissions, enables it, configures it through the form its JSON Schema
// generates (the form's own refusal first) to send to the test's HTTPS
// receiver (RECEIVER_URL), signs out and in (two user events), sees them
// delivered, and disables it. Any browser error fails the run.
import path from 'node:path';
import { BrowserErrors, launchBrowser, poll, prepareOutDir } from './lib.mjs';

const PORTAL = process.env.PORTAL_URL;
const OUT = process.env.OUT_DIR;
const RECEIVER = process.env.RECEIVER_URL;
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
/** The installed card once testid's text matches re (the agent and the dispatcher work on their own time). */
const cardUntil = async (testid, re, ms = MS) => {
  let card;
  await poll(
    `${testid} matches ${re}`,
    ms,
    async () => {
      card = await installedCard();
      const t = await text(testid, card).catch(() => '');
      return { ok: re.test(t), state: t };
    },
    1000,
  );
  return card;
};
/** The sign-in page wears the theme: its name, its logo (loaded from the portal), the title. */
const themedSignIn = async () => {
  await page.goto(PORTAL + '/login');
  await page.getByText('Midnight', { exact: true }).first().waitFor({ timeout: MS });
  check((await page.getByText('StreamSpace', { exact: true }).count()) === 0, 'the sign-in page names the theme, not StreamSpace');
  const logo = page.locator('main img').first();
  await poll('the theme logo loads', MS, async () => {
    const { src, width } = await logo.evaluate((img) => ({ src: img.getAttribute('src'), width: img.naturalWidth }));
    return { ok: /^\/api\/v1\/plugins\/theme\/logo\?v=/.test(src) && width > 0, state: `${src} ${width}` };
  });
  check(true, 'the sign-in page shows the theme logo, served by the portal');
  await poll('the title', MS, async () => ({ ok: (await page.title()) === 'Sign in — Midnight', state: await page.title() }));
  check(true, 'the window title is the theme name');
};
/** The installed plugin's config once the agent synced it (the portal's own answer). */
const configSynced = (want) =>
  poll(
    'the agent syncs the configuration',
    60_000,
    async () => {
      const got = await page.evaluate(async () => {
        const r = await fetch('/api/v1/plugins/installed', { credentials: 'same-origin' });
        const p = (await r.json()).plugins.find((x) => x.name === 'audit-exporter');
        return p?.config?.endpoint ?? '';
      });
      return { ok: got === want, state: got };
    },
    1000,
  );
const signIn = async () => {
  await page.getByLabel('Username').fill(process.env.USER_NAME);
  await page.getByLabel(/^Password/).fill(process.env.USER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard', { timeout: MS });
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
    await themedSignIn();
    await signIn();
    await page.getByRole('link', { name: 'Midnight home' }).waitFor({ timeout: MS });
    check(true, 'the app bar names the theme');
  });

  await step('catalog', async () => {
    await page.getByRole('link', { name: 'Plugins' }).first().click();
    await page.waitForURL('**/plugins/catalog');
    await page.getByTestId('plugin-card-audit-exporter').waitFor({ timeout: MS });
    check((await page.getByTestId(/^plugin-card-/).count()) === 4, 'the catalog shows the four plugins the agent indexed');
    await page.getByRole('searchbox', { name: 'Search plugins' }).fill('slack');
    const cards = page.getByTestId(/^plugin-card-/);
    await poll('the search narrows the cards', MS, async () => ({ ok: (await cards.count()) === 1, state: await cards.count() }));
    check(await page.getByTestId('plugin-card-slack-notifier').isVisible(), 'the search narrows it to the Slack notifier');
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
    // the install merged; the agent's sync applies it on its own time
    const waiting = page.getByTestId('approval-audit-exporter');
    await poll(
      'the agent applies the installed plugin',
      60_000,
      async () => {
        if (await waiting.isVisible()) return { ok: true };
        await page.goto(PORTAL + '/admin/plugins');
        await waiting.waitFor({ timeout: 3000 }).catch(() => {});
        return { ok: await waiting.isVisible(), state: 'no approval yet' };
      },
      1000,
    );
    await waiting.getByRole('button', { name: 'Review permissions' }).click();
    const dialog = page.getByTestId('approve-dialog');
    await dialog.getByRole('checkbox', { name: /events:session/ }).check();
    await dialog.getByRole('checkbox', { name: /events:user/ }).check();
    await dialog.getByRole('button', { name: 'Propose approval' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #2 opened/);
    check(true, 'the approval is pull request #2');
    await waitText(page.locator('main'), /pull request #2/);
    check(true, 'the proposed changes list links the pull requests');
  });

  await step('enable', async () => {
    const card = await cardUntil('plugin-ready', /Disabled/);
    check(true, 'approved but off: Ready is False, Disabled (the agent)');
    await card.getByRole('button', { name: 'Enable' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #3 opened/);
    await cardUntil('plugin-ready', /^Ready/);
    check(true, 'merged and applied: Ready (the agent resolved, verified and approved it)');
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
    await dialog.getByLabel(/endpoint/i).fill('http://siem.example.com/in');
    await dialog.getByRole('button', { name: 'Propose configuration' }).click();
    await waitText(dialog, /must match \^https:\/\//);
    check(true, 'the form refuses a plain http endpoint (the schema pattern), before sending');
    await dialog.getByLabel(/endpoint/i).fill(RECEIVER);
    await dialog.getByRole('button', { name: 'Propose configuration' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #4 opened/);
    check(true, 'the configuration is pull request #4');
  });

  await step('deliveries', async () => {
    // two user events, made by signing out and in again, delivered by the
    // portal's dispatcher to the receiver the configuration names
    await configSynced(RECEIVER);
    await cardUntil('plugin-ready', /^Ready/);
    errors.expect(
      'signed out, the sign-in page asks who it is and tries a renewal first',
      (e) => e.kind === 'console.error' && /status of 401/.test(e.text) && /\/api\/v1\/(users\/me|auth\/refresh)$/.test(e.url),
    );
    await page.getByRole('button', { name: 'Account menu' }).click();
    await page.getByRole('menuitem', { name: 'Sign out' }).click();
    await page.waitForURL('**/login**', { timeout: MS });
    await themedSignIn();
    await signIn();
    const card = await cardUntil('plugin-delivery', /^([2-9]|\d{2,}) delivered · 0 failed · 0 pending/, 90_000);
    check(true, `the deliveries show: ${await text('plugin-delivery', card)}`);
  });

  await step('disable', async () => {
    const card = await installedCard();
    await card.getByRole('button', { name: 'Disable' }).click();
    await waitText(page.getByTestId('change-result'), /Pull request #5 opened/);
    await cardUntil('plugin-enabled', /^disabled$/);
    check(true, 'merged and applied: disabled');
  });
} finally {
  await browser.close();
}
if (errors.errors.length > 0) {
  console.log('BROWSER ERRORS:\n' + errors.errors.join('\n'));
  process.exit(1);
}
console.log('PASS');
