// A headless Debian Chromium driven by playwright-core, pointed at a running
// server (CHATSHOP_URL). Every host but 127.0.0.1 resolves to nothing, so a
// page that tried to fetch anything from the internet would fail visibly.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE_URL = (process.env.CHATSHOP_URL ?? '').replace(/\/$/, '');
if (!BASE_URL) throw new Error('CHATSHOP_URL must point at a running Chatshop server');

export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      // No phoning home: this machine, and many integrators' CI, has no internet.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-domain-reliability',
      '--no-first-run',
      '--no-default-browser-check',
      '--metrics-recording-only',
      '--disable-quic',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    ],
  });
}

/**
 * A page that records console errors, uncaught exceptions, requests that
 * leave this machine and WebSocket traffic, for the tests to assert on.
 */
export async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = { consoleErrors: [], pageErrors: [], externalRequests: [], sockets: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') problems.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => problems.pageErrors.push(error.message));
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol === 'data:') return;
    if (url.hostname !== '127.0.0.1') problems.externalRequests.push(request.url());
  });
  page.on('websocket', (socket) => {
    const record = { url: socket.url(), received: 0, sent: 0 };
    problems.sockets.push(record);
    socket.on('framereceived', () => {
      record.received += 1;
    });
    socket.on('framesent', () => {
      record.sent += 1;
    });
  });
  return { context, page, problems };
}

/** A GraphQL request from the test itself, over HTTP. */
export async function graphql(query, variables, token) {
  const response = await fetch(`${BASE_URL}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

export async function signIn(email) {
  const data = await graphql('mutation ($input: SignInInput!) { signIn(input: $input) { token } }', {
    input: { email, password: 'demo-password' },
  });
  return data.signIn.token;
}
