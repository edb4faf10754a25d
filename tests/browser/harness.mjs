// Test harness for the chat page: builds nothing, starts the real server (the built youtu-server.dll) on
// loopback with the tiny synthesized model, and launches Debian's chromium through playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const artifacts = path.join(here, 'artifacts');

/** The server build: $YOUTU_SERVER_DLL, else what `dotnet build src/YoutuServer -c Release` writes. */
export const serverDll = process.env.YOUTU_SERVER_DLL
  ? path.resolve(process.env.YOUTU_SERVER_DLL)
  : path.join(repoRoot, 'src', 'YoutuServer', 'bin', 'Release', 'net10.0', 'youtu-server.dll');

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Flags this machine needs: no sandbox as root, no GPU, no background traffic to a closed network. */
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export const MODEL_ALIAS = 'tiny-youtu';

fs.mkdirSync(artifacts, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'youtu-browser-'));

export function cleanupWork() {
  fs.rmSync(work, { recursive: true, force: true });
}

let modelPath;

/** Synthesizes the tiny model once per run (`youtu-server synth --preset tiny`). */
export function tinyModel() {
  if (modelPath) return modelPath;
  if (!fs.existsSync(serverDll)) {
    throw new Error(`server build not found at ${serverDll}: run scripts/test-browser.sh, or build and set YOUTU_SERVER_DLL`);
  }
  modelPath = path.join(work, 'tiny.gguf');
  execFileSync('dotnet', [serverDll, 'synth', '--preset', 'tiny', '--out', modelPath, '--seed', '42'], { stdio: 'pipe' });
  return modelPath;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `dotnet youtu-server.dll serve` on a free loopback port and waits for /health/ready.
 * @returns {Promise<{url: string, port: number, stop: () => Promise<void>, health: () => Promise<any>, log: string}>}
 */
export async function startServer(name, extraArgs = []) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logPath = path.join(artifacts, `server-${name}.log`);
  const log = fs.openSync(logPath, 'w');
  const args = [
    serverDll, 'serve',
    '--model', tinyModel(),
    '--model-alias', MODEL_ALIAS,
    '--host', '127.0.0.1',
    '--port', String(port),
    '--ctx-size', '4096',
    '--threads', '2',
    ...extraArgs,
  ];
  const child = spawn('dotnet', args, { stdio: ['ignore', log, log], env: { ...process.env, ASPNETCORE_ENVIRONMENT: 'Production' } });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) {
      throw new Error(`server ${name} exited early (${JSON.stringify(exited)}); log: ${logPath}\n${fs.readFileSync(logPath, 'utf8').slice(-4000)}`);
    }
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server ${name} not ready after 90 s; log: ${logPath}`);
    }
    await sleep(200);
  }

  return {
    url,
    port,
    log: logPath,
    health: async () => (await fetch(`${url}/health/ready`)).json(),
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
      fs.closeSync(log);
    },
  };
}

/** Headless Debian chromium; Playwright gives every launch a fresh, empty user-data-dir. */
export async function launchBrowser() {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} not found: run scripts/setup-browser-tests.sh (apt-get install chromium)`);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}

export async function screenshot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Polls fn until it returns a truthy value or the time runs out; returns the value. */
export async function waitFor(fn, { timeout = 15_000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(interval);
  }
}
