#!/usr/bin/env node
// Screenshot of a layerlock report in the system's headless Chromium (the browser test's helper):
//   node scripts/report-screenshot.mjs report.html shot.png [width] [height]
// Prints what it saw (charts, requests, console errors) as JSON; exits 1 if the page made a request,
// logged an error or has an empty chart. Height 0 = the whole page.
import { inspectReport } from '../dist/test/browser.js';

const [html, png, width = '1280', height = '0'] = process.argv.slice(2);
if (!html || !png) {
  console.error('usage: node scripts/report-screenshot.mjs REPORT.html OUT.png [width] [height]');
  process.exit(2);
}
const seen = await inspectReport(html, png, { width: Number(width), height: Number(height) || 900 }, Number(height) === 0);
console.log(JSON.stringify({ charts: seen.charts.length, requests: seen.requests, console_errors: seen.consoleErrors, sections: seen.sections }, null, 2));
const bad = seen.requests.length > 0 || seen.consoleErrors.length > 0 || seen.charts.some((c) => c.width === 0 || Object.keys(c.marks).length === 0);
process.exit(bad ? 1 : 0);
