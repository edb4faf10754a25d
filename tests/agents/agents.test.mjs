// The OpenAI Agents SDK (@openai/agents) against the real server on the tiny synthesized model (issue 22 item 1):
// an agent whose tool is forced (tool_choice "required", parallel calls at the SDK's default) runs over Chat
// Completions and over Responses, thinking on and off, three runs each. A run passes when the SDK executed the tool
// with schema-valid arguments and stopped there (toolUseBehavior "stop_on_first_tool"); a cut or missing call makes
// the SDK throw (ModelBehaviorError) or return text instead.
//
// Needs the server build: $YOUTU_SERVER_DLL, else src/YoutuServer/bin/Release/net10.0/youtu-server.dll (scripts/test-agents.sh builds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { Agent, run, tool, OpenAIChatCompletionsModel, OpenAIResponsesModel, setTracingDisabled } from '@openai/agents';
import { z } from 'zod';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const serverDll = process.env.YOUTU_SERVER_DLL
  ? path.resolve(process.env.YOUTU_SERVER_DLL)
  : path.join(repoRoot, 'src', 'YoutuServer', 'bin', 'Release', 'net10.0', 'youtu-server.dll');
const MODEL = 'tiny-youtu';
const RUNS = 3;

setTracingDisabled(true);

let server;
let client;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'youtu-agents-'));

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

before(async () => {
  assert.ok(fs.existsSync(serverDll), `server build not found at ${serverDll}: run scripts/test-agents.sh, or build and set YOUTU_SERVER_DLL`);
  const model = path.join(work, 'tiny.gguf');
  execFileSync('dotnet', [serverDll, 'synth', '--preset', 'tiny', '--out', model, '--seed', '42'], { stdio: 'pipe' });
  const port = await freePort();
  const log = fs.openSync(path.join(work, 'server.log'), 'w');
  const child = spawn('dotnet', [serverDll, 'serve', '--model', model, '--model-alias', MODEL, '--host', '127.0.0.1', '--port', String(port),
    '--ctx-size', '4096', '--threads', '1', '--seed', '20251204'], { stdio: ['ignore', log, log] });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    assert.equal(exited, null, `server exited early: ${fs.readFileSync(path.join(work, 'server.log'), 'utf8').slice(-3000)}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    assert.ok(Date.now() < deadline, 'server not ready after 90 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  server = { child, url, exited: () => exited };
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  if (server && !server.exited()) {
    server.child.kill('SIGTERM');
    for (let i = 0; i < 100 && !server.exited(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!server.exited()) server.child.kill('SIGKILL');
  }
  fs.rmSync(work, { recursive: true, force: true });
});

const CITIES = ['Paris', 'Rome', 'Oslo'];

function weatherAgent(api, thinking) {
  const calls = [];
  const getWeather = tool({
    name: 'get_weather',
    description: 'The weather of a city',
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      calls.push(city);
      return `Sunny in ${city}`;
    },
  });
  const model = api === 'responses' ? new OpenAIResponsesModel(client, MODEL) : new OpenAIChatCompletionsModel(client, MODEL);
  const agent = new Agent({
    name: 'weather',
    instructions: 'Answer questions about the weather with the get_weather tool.',
    model,
    tools: [getWeather],
    toolUseBehavior: 'stop_on_first_tool',
    modelSettings: {
      toolChoice: 'required',
      maxTokens: 160,
      reasoning: { effort: thinking ? 'medium' : 'none' },
    },
  });
  return { agent, calls };
}

for (const api of ['chat', 'responses']) {
  for (const thinking of [false, true]) {
    test(`${api}, thinking ${thinking ? 'on' : 'off'}: a forced tool runs ${RUNS} of ${RUNS} times`, async () => {
      const results = [];
      for (let i = 0; i < RUNS; i++) {
        const { agent, calls } = weatherAgent(api, thinking);
        const city = CITIES[i % CITIES.length];
        try {
          const result = await run(agent, `What is the weather in ${city}? (run ${i})`, { maxTurns: 2 });
          const ok = calls.length >= 1 && typeof result.finalOutput === 'string' && result.finalOutput.startsWith('Sunny in ');
          results.push({ ok, calls: calls.length, output: String(result.finalOutput).slice(0, 80) });
        } catch (e) {
          results.push({ ok: false, error: `${e.name}: ${e.message}`.slice(0, 300) });
        }
      }
      console.log(`AGENTS ${api} thinking=${thinking ? 'on' : 'off'}: ${results.filter((r) => r.ok).length}/${RUNS} ${JSON.stringify(results)}`);
      assert.deepEqual(results.map((r) => r.ok), Array(RUNS).fill(true), JSON.stringify(results, null, 1));
    });
  }
}
