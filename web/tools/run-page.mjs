// Open a built nameort page in headless Chromium and report what it did.
//
//   node web/tools/run-page.mjs URL [--chromium /usr/bin/chromium] [--timeout-ms 60000]
//        [--screenshot out.png] [--width 900] [--height 700] [--type-name Tribbiani]
//
// Waits for <body data-done="1"> (the page sets it after a ?names= run), then
// prints one JSON object: {results, error, model_info, first_result_ms, done_ms,
// bytes, requests, console, typed}. `bytes` is what crossed the network (bodies + headers,
// from the DevTools protocol); first_result_ms is the page's own mark, measured
// from navigation start. Exit status 1 when the page failed or timed out.
//
// Driven with playwright-core against the system Chromium: no browser download.

import { chromium } from "playwright-core";

// Chromium on a closed network: no background traffic, no first-run work.
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function parseArgs(argv) {
  const options = { chromium: "/usr/bin/chromium", timeoutMs: 60000, width: 900, height: 700 };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--chromium") options.chromium = value();
    else if (arg === "--timeout-ms") options.timeoutMs = Number(value());
    else if (arg === "--screenshot") options.screenshot = value();
    else if (arg === "--width") options.width = Number(value());
    else if (arg === "--height") options.height = Number(value());
    else if (arg === "--type-name") options.typeName = value();
    else rest.push(arg);
  }
  if (rest.length !== 1) throw new Error("usage: run-page.mjs URL [options]");
  options.url = rest[0];
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  // Playwright gives the browser a fresh, empty --user-data-dir of its own.
  const browser = await chromium.launch({
    executablePath: options.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: options.timeoutMs,
  });
  const report = { results: null, error: null, first_result_ms: null, done_ms: null, bytes: 0, requests: [], console: [] };
  try {
    const context = await browser.newContext({ viewport: { width: options.width, height: options.height } });
    const page = await context.newPage();
    page.on("console", (msg) => report.console.push(`${msg.type()}: ${msg.text()}`));
    page.on("pageerror", (err) => report.console.push(`pageerror: ${err.message}`));

    // Bytes on the wire, per request, from the DevTools protocol.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    const urls = new Map();
    cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, e.request.url));
    cdp.on("Network.loadingFinished", (e) => {
      report.bytes += e.encodedDataLength;
      report.requests.push({ url: urls.get(e.requestId), bytes: e.encodedDataLength });
    });

    const started = Date.now();
    await page.goto(options.url, { waitUntil: "load", timeout: options.timeoutMs });
    await page.waitForSelector('body[data-done="1"]', { timeout: Math.max(1, options.timeoutMs - (Date.now() - started)) });
    const state = await page.evaluate(() => ({
      text: document.getElementById("results").textContent,
      error: document.body.dataset.error ?? null,
      info: document.getElementById("model-info").textContent,
      first: document.body.dataset.firstResultMs ?? null,
      done: performance.now(),
    }));
    report.error = state.error;
    report.model_info = state.info;
    report.results = state.error ? null : JSON.parse(state.text);
    report.first_result_ms = state.first === null ? null : Number(state.first);
    report.done_ms = Math.round(state.done);
    if (options.typeName !== undefined && !state.error) {
      // The interactive path: type a name, wait for its answer under the input.
      // Key by key, as a person types: the answers to earlier keystrokes overlap and must be dropped.
      await page.type("#name", options.typeName);
      await page.waitForFunction((name) => {
        try {
          return JSON.parse(document.getElementById("results").textContent)[0].name === name;
        } catch {
          return false;
        }
      }, options.typeName);
      report.typed = await page.evaluate(() => ({
        shown: document.querySelector("#single").textContent,
        result: JSON.parse(document.getElementById("results").textContent)[0],
        ms: Number(document.body.dataset.lastRunMs),
      }));
    }
    if (options.screenshot) await page.screenshot({ path: options.screenshot, fullPage: true });
  } catch (err) {
    report.error = report.error ?? `${err.name}: ${err.message.split("\n")[0]}`;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exitCode = report.error ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`run-page: ${err.message}\n`);
  process.exitCode = 2;
});
