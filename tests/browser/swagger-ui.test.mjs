// Swagger UI as a person uses it: open it, run the examples of POST /add_user
// (twice), POST /orders and GET /orders (the work queue), and check what the response panel shows. Runs in
// Debian's Chromium against the service on a random port, with no network:
// any request to another host, and any console error, fails the test.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '..', '..');
const binary = process.env.SERVICE_BINARY
  ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, 'target'), 'debug', 'ecommerce-service');
const artifacts = path.join(root, 'target', 'browser');
const screenshot = process.env.SCREENSHOT ?? path.join(artifacts, 'swagger-ui.png');

let service;
let browser;
let page;
let origin;
const foreignRequests = [];
const consoleErrors = [];

/** Starts the service on PORT=0 and resolves with the port it bound, read
 * from its JSON "listening" line: a probed port could be taken by another
 * process before the service binds it. */
function startService() {
  const child = spawn(binary, [], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'swagger-')), LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let pending = '';
    let port;
    child.stdout.on('data', (chunk) => {
      if (port !== undefined) return;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        try {
          const event = JSON.parse(line);
          if (event.message === 'listening') {
            port = event.port;
            resolve({ child, port });
            return;
          }
        } catch {
          // Not a JSON line.
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`the service exited with ${code} before it listened`)));
  });
}

async function waitUntilReady(url) {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} never answered`);
}

before(async () => {
  const started = await startService();
  service = started.child;
  origin = `http://127.0.0.1:${started.port}`;
  await waitUntilReady(`${origin}/health/ready`);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  page = await context.newPage();
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin) return route.continue();
    foreignRequests.push(url.href);
    return route.abort();
  });
  page.on('console', (message) => {
    // Chromium reports every non-2xx fetch as a console error; the 409 is the
    // answer step 2 provokes on purpose. Anything else fails the test.
    const expected = /^Failed to load resource: the server responded with a status of 409/;
    if (message.type() === 'error' && !expected.test(message.text())) consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
});

after(async () => {
  await browser?.close();
  service?.kill('SIGTERM');
});

/** Expands an operation, presses "Try it out" and "Execute", and returns the
 * status and body the response panel shows. */
async function runExample(operationId, { tryItOut = true } = {}) {
  const operation = page.locator(`[id$="-${operationId}"]`).first();
  if (!(await operation.locator('.opblock-body').count())) {
    await operation.locator('.opblock-summary').first().click();
  }
  if (tryItOut) await operation.getByRole('button', { name: 'Try it out' }).click();
  const isApiCall = (response) => {
    const url = new URL(response.url());
    return url.origin === origin && !url.pathname.startsWith('/swagger-ui') && !url.pathname.startsWith('/api-docs');
  };
  const [answer] = await Promise.all([
    page.waitForResponse(isApiCall),
    operation.getByRole('button', { name: 'Execute' }).click(),
  ]);
  // A second execution replaces an earlier panel: wait for this answer's
  // status and message to be on screen, not the previous one's.
  const { message } = JSON.parse(await answer.text());
  const responses = operation.locator('.live-responses-table');
  const status = responses.locator('tbody .response-col_status', { hasText: String(answer.status()) }).first();
  await status.waitFor();
  const shown = responses.locator('.response-col_description pre', { hasText: message }).first();
  await shown.waitFor();
  return { status: (await status.innerText()).trim(), body: await shown.innerText() };
}

test('Swagger UI renders offline, and its examples work in sequence', async () => {
  await page.goto(`${origin}/swagger-ui`);
  assert.equal(new URL(page.url()).pathname, '/swagger-ui/', 'the bare path redirects to the UI');
  await page.locator('.info .title').waitFor();
  const title = await page.locator('.info .title').innerText();
  assert.match(title, /ecommerce-service/);
  assert.match(title, /0\.1\.0/);
  for (const tag of ['users', 'orders']) {
    assert.equal(await page.locator(`#operations-tag-${tag}`).count(), 1, `a ${tag} tag`);
  }

  const created = await runExample('add_user');
  assert.equal(created.status, '201', created.body);
  assert.match(created.body, /"User john added successfully"/);

  const again = await runExample('add_user', { tryItOut: false });
  assert.equal(again.status, '409', again.body);
  assert.match(again.body, /"USERNAME_TAKEN"/);

  const order = await runExample('place_order');
  assert.equal(order.status, '201', order.body);
  assert.match(order.body, /"Order placed successfully"/);

  // GET /orders runs its example: the work queue of PLACED orders.
  const queue = await runExample('list_orders');
  assert.equal(queue.status, '200', queue.body);
  assert.match(queue.body, /"Username": "john"/);
  assert.match(queue.body, /"Status": "PLACED"/);

  mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.locator('#operations-orders-place_order .live-responses-table').scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot });

  assert.deepEqual(foreignRequests, [], 'no request left the service');
  assert.deepEqual(consoleErrors, [], 'no console errors');
});
