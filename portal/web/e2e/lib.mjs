// Helpers of the end-to-end UI flow (flow.mjs): Debian's Chromium driven by
// playwright-core (no browser download), every page's console errors and
// uncaught exceptions collected, screenshots named by step, and the pixels
// of the noVNC canvas.
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Headless and quiet: no GPU, no QUIC, nothing fetched behind our back (the
// machine may have no internet; a background request failing must not show
// up as an error of the app).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts Chromium; each context playwright opens on it has a fresh profile. */
export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Starts Chromium on a regular (not off-the-record) profile in dir, as a
 * person's own browser window is. A context of launchBrowser is private
 * browsing, where Chromium blocks third-party cookies and storage: a
 * session's page framed from <session>.localhost in a portal on localhost
 * (another site) then cannot use its own localStorage.
 */
export async function launchRegularProfile(dir, options = {}) {
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ...options });
}

// What an off-site request gets instead: a neutral app icon.
const STAND_IN_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="4" y="4" width="56" height="56" rx="12" fill="#90a4ae"/></svg>';

/**
 * Keeps a context on the portal: nothing leaves for the internet (there may
 * be none, and a run must not depend on it). The catalog's icons are URLs on
 * raw.githubusercontent.com; every off-site request is answered here with a
 * stand-in icon, so the pages render the same with or without internet, and
 * counted: `offSite()` says what was answered. alsoAllowed(url) lets other
 * local origins through (the portal's apps hosts).
 */
export async function keepOnPortal(context, portal, alsoAllowed = () => false) {
  const origin = new URL(portal).origin;
  const hosts = new Map();
  await context.route(
    (url) => url.origin !== origin && !alsoAllowed(url),
    (route) => {
      const { host } = new URL(route.request().url());
      hosts.set(host, (hosts.get(host) ?? 0) + 1);
      return route.fulfill({ status: 200, contentType: 'image/svg+xml', body: STAND_IN_ICON });
    },
  );
  return {
    offSite: () => [...hosts].map(([host, n]) => `${n} to ${host}`).join(', ') || 'none',
  };
}

/** Empties OUT_DIR of the screenshots of an earlier run. */
export async function prepareOutDir(dir) {
  await mkdir(dir, { recursive: true });
  for (const f of await readdir(dir)) {
    if (f.endsWith('.png')) await rm(path.join(dir, f));
  }
}

/**
 * What went wrong in the browser: console errors and uncaught exceptions of
 * every page, each with the step it happened in. `expect` lets a step say
 * that one precise error is deliberate; anything else fails the run.
 */
export class BrowserErrors {
  constructor() {
    this.step = 'start';
    this.errors = [];
    this.expected = [];
  }

  /** Listens to a page (call it for every page opened). */
  watch(page, who) {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const loc = msg.location();
      const where = loc.url ? ` (${loc.url}${loc.lineNumber ? ':' + loc.lineNumber : ''})` : '';
      this.add({ who, kind: 'console.error', text: msg.text(), url: loc.url ?? '' }, `${msg.text()}${where}`);
    });
    page.on('pageerror', (err) => this.add({ who, kind: 'pageerror', text: String(err), url: '' }, err.stack || String(err)));
    page.on('crash', () => this.add({ who, kind: 'crash', text: 'the page crashed', url: page.url() }, 'the page crashed'));
  }

  add(e, detail) {
    // The local node's pod network lives in the host's network namespace,
    // as this browser does: a pod's interface coming or going (a session
    // ending) makes Chromium abort the loads in flight with
    // ERR_NETWORK_CHANGED, which no user of a real install sees. Said, not
    // failed: the step's own checks still decide whether its page worked.
    if (e.text.includes('net::ERR_NETWORK_CHANGED')) {
      console.log(`  (the host's network changed during ${this.step}, a pod's interface: ${detail})`);
      return;
    }
    const ok = this.expected.find((x) => x.step === this.step && x.match(e));
    if (ok) {
      ok.seen++;
      console.log(`  (expected browser error in ${this.step}: ${detail} — ${ok.why})`);
      return;
    }
    this.errors.push(`[${this.step}] ${e.who} ${e.kind}: ${detail}`);
    console.log(`  BROWSER ERROR [${this.step}] ${e.who} ${e.kind}: ${detail}`);
  }

  /** Allows one kind of error during the current step only, saying why. */
  expect(why, match) {
    const x = { step: this.step, why, match, seen: 0 };
    this.expected.push(x);
    return x;
  }
}

/**
 * The noVNC canvas's pixels, read in the page (or frame; selector names
 * the canvas, by default the portal viewer's): its size, how many distinct
 * colours it has, the most common colour and its share, how many pixels are
 * not that colour, and a hash to tell whether it changed.
 */
export async function canvasStats(page, selector = '[data-testid="viewer"] canvas') {
  return page.evaluate((selector) => {
    const canvas = document.querySelector(selector);
    if (!canvas || !canvas.width || !canvas.height) return null;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const counts = new Map();
    let hash = 2166136261;
    for (let i = 0; i < data.length; i += 4) {
      const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      counts.set(rgb, (counts.get(rgb) ?? 0) + 1);
      hash = Math.imul(hash ^ rgb, 16777619) >>> 0;
    }
    let dominant = 0;
    let dominantCount = 0;
    for (const [rgb, n] of counts) {
      if (n > dominantCount) [dominant, dominantCount] = [rgb, n];
    }
    const pixels = data.length / 4;
    return {
      width: canvas.width,
      height: canvas.height,
      colours: counts.size,
      dominant: '#' + dominant.toString(16).padStart(6, '0'),
      dominantShare: dominantCount / pixels,
      others: pixels - dominantCount,
      hash,
    };
  }, selector);
}

export function describeCanvas(s) {
  return s
    ? `${s.width}x${s.height}, ${s.colours} colours, ${s.dominant} on ${(s.dominantShare * 100).toFixed(2)}%, ${s.others} other pixels`
    : 'no canvas';
}

/** Polls until `check` returns a truthy value, or throws after `ms` saying what it last saw. */
export async function poll(what, ms, check, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    const r = await check();
    if (r.ok) return r;
    last = r;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000}s (last: ${last.state ?? JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}
