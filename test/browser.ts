// Opens an HTML report in the system's headless Chromium (Debian's `chromium`, driven by playwright-core;
// nothing is downloaded) and reports what a reader would see: every chart's SVG and its marks and axis
// titles, every network request the page made, every console error, and a screenshot.
// Used by test/report-browser.test.ts and scripts/report-screenshot.mjs.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env['LAYERLOCK_CHROMIUM'] ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run',
];

export interface ChartSeen {
  id: string;
  /** data-marks: the mark types the report promised for this chart. */
  expected: string[];
  width: number;
  height: number;
  /** Number of drawn elements per Vega mark type (mark-line, mark-symbol, …). */
  marks: Record<string, number>;
  /** The axis titles' texts. */
  axisTitles: string[];
}

export interface PageSeen {
  charts: ChartSeen[];
  /** Every request other than the report file itself. */
  requests: string[];
  consoleErrors: string[];
  title: string;
  sections: string[];
}

// Runs inside the page (plain JavaScript: this project compiles without the DOM's types).
const IN_PAGE = `(() => {
  const charts = [...document.querySelectorAll('figure.chart')].map((fig) => {
    const svg = fig.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    const marks = {};
    for (const g of fig.querySelectorAll('g.role-mark')) {
      const cls = [...g.classList].find((c) => c.startsWith('mark-'));
      const type = cls ? cls.slice(5) : 'unknown';
      marks[type] = (marks[type] || 0) + g.querySelectorAll('path, rect, line, text, circle').length;
    }
    return {
      id: fig.id,
      expected: (fig.getAttribute('data-marks') || '').split(',').filter((s) => s !== ''),
      width: box.width,
      height: box.height,
      marks,
      axisTitles: [...fig.querySelectorAll('g.role-axis-title text')].map((t) => (t.textContent || '').trim()).filter((t) => t !== ''),
    };
  });
  return { charts, title: document.title, sections: [...document.querySelectorAll('section[id]')].map((s) => s.id) };
})()`;

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/** Loads the report, inspects it and writes a screenshot to `screenshot` (PNG; the whole page unless fullPage is false). */
export async function inspectReport(htmlPath: string, screenshot: string, viewport = { width: 1280, height: 900 }, fullPage = true): Promise<PageSeen> {
  if (!chromiumAvailable()) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's browser with \`apt-get install -y chromium\` (.ci/run does), or point LAYERLOCK_CHROMIUM at one`);
  }
  // A fresh profile every time: no state from another run, nothing the browser keeps afterwards.
  const profile = await mkdtemp(join(tmpdir(), 'layerlock-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport, offline: true,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const url = pathToFileURL(htmlPath).href;
    const requests: string[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(url, { waitUntil: 'load' });
    const seen = (await page.evaluate(IN_PAGE)) as Omit<PageSeen, 'requests' | 'consoleErrors'>;
    await page.screenshot({ path: screenshot, fullPage });
    return { ...seen, requests, consoleErrors };
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
