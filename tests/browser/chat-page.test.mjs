// End-to-end tests of the built-in chat page in a real browser (Debian chromium, headless, via playwright-core)
// against the real server on loopback with the tiny synthesized model. Screenshots go to tests/browser/artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MODEL_ALIAS, cleanupWork, launchBrowser, screenshot, startServer, waitFor,
} from './harness.mjs';

const API_KEY = 'test-key-7f3a';

let server;
let browser;

before(async () => {
  // One slot and a one-deep queue: the 429 test can fill the server for real.
  server = await startServer('main', ['--parallel', '1', '--queue-size', '1']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  cleanupWork();
});

/** A fresh browser context (its own empty localStorage/sessionStorage) with the page loaded. */
async function openPage(url = server.url, { waitReady = true } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: 'light' });
  const page = await context.newPage();
  // Generous: CI machines are small and may be busy; the tiny model's speed varies with the load.
  page.setDefaultTimeout(60_000);
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const requests = [];
  page.on('request', (r) => requests.push(r));
  await page.goto(url + '/');
  if (waitReady) await page.waitForSelector('html[data-ready="true"]');
  return { context, page, requests, consoleErrors };
}

/** Opens the settings panel and fills the given fields (ids without '#'), then closes it again. */
async function setSettings(page, fields) {
  await page.click('#settings-toggle');
  for (const [id, value] of Object.entries(fields)) {
    await page.fill(`#${id}`, value);
    await page.dispatchEvent(`#${id}`, 'change');
  }
  await page.click('#settings-close');
}

const chatRequests = (requests) => requests.filter((r) => r.url().endsWith('/v1/chat/completions') && r.method() === 'POST');
const lastAnswer = (page) => page.locator('.msg-assistant').last();

async function waitForAnswerDone(page, timeout = 120_000) {
  await page.waitForFunction(() => {
    const m = [...document.querySelectorAll('.msg-assistant')].pop();
    return m && !m.classList.contains('streaming') && document.getElementById('send').hidden === false;
  }, null, { timeout });
}

async function health() {
  return server.health();
}

describe('chat page', () => {
  test('is served by the server itself, with nothing from other origins', async () => {
    const { context, page, requests, consoleErrors } = await openPage();
    try {
      const res = await page.request.get(server.url + '/');
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /text\/html/);
      assert.match(res.headers()['content-security-policy'], /default-src 'self'/);
      for (const r of requests) assert.ok(r.url().startsWith(server.url), `request to another origin: ${r.url()}`);
      assert.equal(await page.title(), 'Youtu chat');
      // The model list comes from /v1/models.
      assert.equal(await page.inputValue('#model'), MODEL_ALIAS);
      assert.equal(await page.textContent('#model-badge'), MODEL_ALIAS);
      // Focus starts in the message box; every form control has a label.
      assert.equal(await page.evaluate(() => document.activeElement.id), 'prompt');
      const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
        .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
        .map((e) => e.id));
      assert.deepEqual(unlabeled, []);
      assert.equal(await page.getAttribute('#conversation', 'aria-live'), 'polite');
      assert.equal(await page.getAttribute('#conversation', 'role'), 'log');
      await screenshot(page, '01-empty');
      assert.deepEqual(consoleErrors, []);
    } finally {
      await context.close();
    }
  });

  test('Enter sends, Shift+Enter adds a line, and the answer streams in', async () => {
    const { context, page, requests, consoleErrors } = await openPage();
    try {
      await setSettings(page, { 'max-tokens': '64', 'extra-json': '{"ignore_eos": true, "seed": 11}' });
      await page.focus('#prompt');
      const before = await page.evaluate(() => document.getElementById('prompt').offsetHeight);
      await page.keyboard.type('Hello there,');
      await page.keyboard.press('Shift+Enter');
      await page.keyboard.type('how are you?');
      assert.equal(await page.inputValue('#prompt'), 'Hello there,\nhow are you?');
      assert.equal(await page.locator('.msg').count(), 0, 'Shift+Enter must not send');
      assert.ok(await page.evaluate(() => document.getElementById('prompt').offsetHeight) > before, 'the message box grows with its text');

      // Record every length the answer's text takes while it is marked as streaming.
      await page.evaluate(() => {
        window.__lengths = [];
        new MutationObserver(() => {
          const m = [...document.querySelectorAll('.msg-assistant')].pop();
          if (m && m.classList.contains('streaming')) {
            const n = m.querySelector('.msg-content').textContent.length;
            if (window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
          }
        }).observe(document.getElementById('conversation'), { subtree: true, childList: true, characterData: true, attributes: true });
      });
      const responsePromise = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
      await page.keyboard.press('Enter');
      const response = await responsePromise;
      assert.match(response.headers()['content-type'], /text\/event-stream/);
      assert.equal(await page.inputValue('#prompt'), '', 'the box is emptied on send');

      // Mid-stream: the Stop button replaces Send and some text is already there.
      await page.waitForFunction(() => {
        const m = [...document.querySelectorAll('.msg-assistant')].pop();
        return m && m.classList.contains('streaming') && m.querySelector('.msg-content').textContent.length > 0;
      }, null, { timeout: 60_000 }).catch(() => {});
      if (await page.locator('.msg-assistant.streaming').count()) await screenshot(page, '02-streaming');
      await waitForAnswerDone(page);

      const lengths = await page.evaluate(() => window.__lengths);
      const growing = lengths.filter((n) => n > 0);
      assert.ok(growing.length >= 3, `the answer should grow in several steps while streaming, saw ${JSON.stringify(lengths)}`);
      for (let i = 1; i < growing.length; i++) assert.ok(growing[i] >= growing[i - 1], 'the text only grows');

      const body = chatRequests(requests)[0].postDataJSON();
      assert.equal(body.stream, true);
      assert.deepEqual(body.stream_options, { include_usage: true });
      assert.equal(body.model, MODEL_ALIAS);
      assert.equal(body.max_tokens, 64);
      assert.deepEqual(body.messages, [{ role: 'user', content: 'Hello there,\nhow are you?' }]);

      assert.equal(await page.locator('.msg-user .msg-content').textContent(), 'Hello there,\nhow are you?');
      const answer = await lastAnswer(page).locator('.msg-content').textContent();
      assert.ok(answer.length > 0);
      const usage = await page.textContent('#usage');
      assert.match(usage, /completion 64/);
      assert.match(usage, /[\d.]+ tok\/s/);
      assert.match(await lastAnswer(page).locator('.msg-meta').textContent(), /Cut off at max tokens/);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'prompt', 'focus stays in the message box');
      await screenshot(page, '03-answer');
      assert.deepEqual(consoleErrors, []);
    } finally {
      await context.close();
    }
  });

  test('the thinking toggle sends enable_thinking and reasoning shows in its own collapsible block', async () => {
    const { context, page, requests } = await openPage();
    try {
      assert.equal(await page.isChecked('#thinking'), false);
      // forced_thinking + a reasoning budget make the random tiny model "think" for 16 tokens, then answer.
      await setSettings(page, {
        'max-tokens': '40',
        'extra-json': '{"ignore_eos": true, "seed": 5, "chat_template_kwargs": {"forced_thinking": true}, "reasoning_budget": 16}',
      });

      await page.check('#thinking');
      await page.fill('#prompt', 'Think first, then answer.');
      await page.press('#prompt', 'Enter');
      // While it thinks, the reasoning block is open and labelled as such.
      await page.waitForSelector('.msg-assistant .reasoning:not([hidden])');
      await waitForAnswerDone(page);
      let bodies = chatRequests(requests).map((r) => r.postDataJSON());
      assert.equal(bodies.length, 1);
      assert.equal(bodies[0].enable_thinking, true);

      const answer = lastAnswer(page);
      const reasoning = answer.locator('.reasoning');
      assert.equal(await reasoning.isVisible(), true);
      assert.equal(await answer.locator('.reasoning summary').textContent(), 'Reasoning');
      assert.ok((await answer.locator('.reasoning-text').textContent()).length > 0, 'reasoning text is there');
      assert.ok((await answer.locator('.msg-content').textContent()).length > 0, 'the answer is there, apart from the reasoning');
      // Folded once the answer started; opens from the keyboard.
      assert.equal(await reasoning.evaluate((d) => d.open), false);
      await answer.locator('.reasoning summary').focus();
      await page.keyboard.press('Enter');
      assert.equal(await reasoning.evaluate((d) => d.open), true);
      assert.match(await page.textContent('#usage'), /reasoning/);
      await screenshot(page, '04-reasoning-and-answer');

      // Toggle off: the next request says so explicitly.
      await page.uncheck('#thinking');
      await setSettings(page, { 'extra-json': '{"ignore_eos": true}', 'max-tokens': '8' });
      await page.fill('#prompt', 'And now without thinking.');
      await page.press('#prompt', 'Enter');
      await waitForAnswerDone(page);
      bodies = chatRequests(requests).map((r) => r.postDataJSON());
      assert.equal(bodies.length, 2);
      assert.equal(bodies[1].enable_thinking, false);
      // The history goes back without the reasoning.
      assert.equal(bodies[1].messages.length, 3);
      assert.equal(bodies[1].messages[1].role, 'assistant');
      assert.equal(bodies[1].messages[1].reasoning_content, undefined);
      assert.equal(await lastAnswer(page).locator('.reasoning').isHidden(), true);
    } finally {
      await context.close();
    }
  });

  test('Stop aborts the stream and the server frees the sequence', async () => {
    const { context, page } = await openPage();
    try {
      assert.equal((await health()).active_sequences, 0);
      await setSettings(page, { 'max-tokens': '3900', 'extra-json': '{"ignore_eos": true}' });
      await page.fill('#prompt', 'Write forever.');
      await page.click('#send');
      // Send turns into Stop; focus goes back to the message box so the next message can be typed meanwhile.
      await page.waitForSelector('#stop:not([hidden])');
      assert.equal(await page.isHidden('#send'), true);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'prompt');
      await page.waitForFunction(() => {
        const m = [...document.querySelectorAll('.msg-assistant')].pop();
        return m && m.querySelector('.msg-content').textContent.length > 20;
      });
      await waitFor(async () => (await health()).active_sequences === 1, { timeout: 30_000, message: 'the sequence to be active' });

      await page.click('#stop');
      await waitForAnswerDone(page, 10_000);
      const freed = await waitFor(async () => {
        const h = await health();
        return h.active_sequences === 0 && h.queue_depth === 0 ? h : null;
      }, { timeout: 10_000, message: 'active_sequences to drop to 0' });
      assert.equal(freed.active_sequences, 0);

      const meta = await lastAnswer(page).locator('.msg-meta').textContent();
      assert.match(meta, /Stopped/);
      const partial = await lastAnswer(page).locator('.msg-content').textContent();
      assert.ok(partial.length > 20, 'the partial answer stays');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'prompt', 'focus goes back to the message box');
      await screenshot(page, '05-stopped');

      // Escape stops too.
      await page.fill('#prompt', 'Again.');
      await page.press('#prompt', 'Enter');
      await page.waitForFunction(() => [...document.querySelectorAll('.msg-assistant')].pop()?.querySelector('.msg-content').textContent.length > 5);
      await page.keyboard.press('Escape');
      await waitForAnswerDone(page, 10_000);
      await waitFor(async () => (await health()).active_sequences === 0, { timeout: 10_000, message: 'active_sequences to drop to 0 after Escape' });
      assert.equal(await page.locator('.msg-assistant').count(), 2);
    } finally {
      await context.close();
    }
  });

  test('history survives a reload and New chat clears it', async () => {
    const { context, page } = await openPage();
    try {
      await setSettings(page, { 'max-tokens': '12', 'extra-json': '{"ignore_eos": true}' });
      await page.fill('#prompt', 'First question');
      await page.press('#prompt', 'Enter');
      await waitForAnswerDone(page);
      await page.fill('#prompt', 'Second question');
      await page.press('#prompt', 'Enter');
      await waitForAnswerDone(page);
      const texts = await page.locator('.msg .msg-content').allTextContents();
      assert.equal(texts.length, 4);
      const usage = await page.textContent('#usage');

      await page.reload();
      await page.waitForSelector('html[data-ready="true"]');
      assert.deepEqual(await page.locator('.msg .msg-content').allTextContents(), texts);
      assert.equal(await page.textContent('#usage'), usage, 'the last answer\'s usage is shown again');
      assert.equal(await page.isHidden('#empty-state'), true);
      // Settings are remembered too.
      assert.equal(await page.inputValue('#max-tokens'), '12');
      await screenshot(page, '06-history-after-reload');

      await page.click('#new-chat');
      assert.equal(await page.locator('.msg').count(), 0);
      assert.equal(await page.isVisible('#empty-state'), true);
      assert.equal(await page.evaluate(() => localStorage.getItem('youtu-chat:conversation')), null);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'prompt');
      await page.reload();
      await page.waitForSelector('html[data-ready="true"]');
      assert.equal(await page.locator('.msg').count(), 0, 'still empty after a reload');
      await screenshot(page, '07-cleared');
    } finally {
      await context.close();
    }
  });

  test('errors are shown clearly: 400 names the problem, 429 says when to retry', async () => {
    const { context, page } = await openPage();
    const fillers = [];
    try {
      // A real 400: more tokens than the context holds.
      await setSettings(page, { 'max-tokens': '100000', 'extra-json': '' });
      await page.fill('#prompt', 'Too long a request');
      await page.press('#prompt', 'Enter');
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error-text'), /Error 400 context_length_exceeded: .*maximum context length/);
      assert.equal(await page.getAttribute('#error', 'role'), 'alert');
      assert.equal(await page.locator('.msg-assistant').count(), 0, 'no empty answer is left behind');
      await page.click('#error-dismiss');
      assert.equal(await page.isHidden('#error'), true);

      // A real 429: one request generating, one queued (--parallel 1 --queue-size 1), so the page's is refused.
      const long = JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 4000, ignore_eos: true, stream: true, enable_thinking: false });
      for (let i = 0; i < 2; i++) {
        const ac = new AbortController();
        const p = fetch(server.url + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: long, signal: ac.signal })
          .then((r) => r.body.getReader().read()).catch(() => {});
        fillers.push({ ac, p });
        await waitFor(async () => {
          const h = await health();
          return i === 0 ? h.active_sequences === 1 : h.queue_depth === 1;
        }, { timeout: 30_000, message: `filler ${i} to be ${i === 0 ? 'active' : 'queued'}` });
      }
      await setSettings(page, { 'max-tokens': '8' });
      await page.fill('#prompt', 'Are you busy?');
      await page.press('#prompt', 'Enter');
      await page.waitForSelector('#error:not([hidden])');
      const text = await page.textContent('#error-text');
      assert.match(text, /busy \(429 queue_full\)/);
      assert.match(text, /Retry in 1 s/);
      assert.equal(await page.isVisible('#error-retry'), true);
      await screenshot(page, '08-error-429');

      // Free the server; Retry sends the same conversation again.
      for (const f of fillers) f.ac.abort();
      await waitFor(async () => {
        const h = await health();
        return h.active_sequences === 0 && h.queue_depth === 0;
      }, { timeout: 30_000, message: 'the fillers to be gone' });
      await page.click('#error-retry');
      await waitForAnswerDone(page);
      assert.equal(await page.isHidden('#error'), true);
      assert.equal(await page.locator('.msg-user').count(), 2);
      assert.equal(await page.locator('.msg-assistant').count(), 1);
    } finally {
      for (const f of fillers) f.ac.abort();
      await context.close();
    }
  });

  test('tool calls show as structured cards', async () => {
    const { context, page, requests } = await openPage();
    try {
      const tools = [{
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string', enum: ['Paris', 'Lyon'] }, unit: { type: 'string', enum: ['c', 'f'] } },
            required: ['city', 'unit'],
            additionalProperties: false,
          },
        },
      }];
      await setSettings(page, {
        'max-tokens': '400',
        'tools-json': JSON.stringify(tools),
        'extra-json': '{"seed": 3, "parallel_tool_calls": false, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}',
      });
      await page.fill('#prompt', 'Weather in Paris?');
      await page.press('#prompt', 'Enter');
      await waitForAnswerDone(page);
      const body = chatRequests(requests)[0].postDataJSON();
      assert.deepEqual(body.tools, tools);
      const card = lastAnswer(page).locator('.tool-call');
      assert.equal(await card.count(), 1);
      assert.equal(await card.locator('.tool-call-name').textContent(), 'get_weather');
      assert.match(await card.locator('.tool-call-id').textContent(), /^id call_/);
      const args = JSON.parse(await card.locator('.tool-call-args').textContent());
      assert.ok(['Paris', 'Lyon'].includes(args.city));
      assert.ok(['c', 'f'].includes(args.unit));
      assert.match(await lastAnswer(page).locator('.msg-meta').textContent(), /Tool calls/);
      await screenshot(page, '09-tool-call');

      // Bad tools JSON is refused in the page, before any request.
      await setSettings(page, { 'tools-json': '{not json' });
      await page.fill('#prompt', 'Again');
      await page.press('#prompt', 'Enter');
      await page.waitForSelector('#error:not([hidden])');
      assert.match(await page.textContent('#error-text'), /Tools is not valid JSON/);
      assert.equal(chatRequests(requests).length, 1);
    } finally {
      await context.close();
    }
  });

  test('the settings panel works from the keyboard', async () => {
    const { context, page } = await openPage();
    try {
      await page.focus('#settings-toggle');
      await page.keyboard.press('Enter');
      assert.equal(await page.getAttribute('#settings-toggle', 'aria-expanded'), 'true');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'model');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'temperature');
      await page.keyboard.type('0.7');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'top-p');
      await page.keyboard.type('0.9');
      await page.keyboard.press('Escape');
      assert.equal(await page.isHidden('#settings'), true);
      assert.equal(await page.getAttribute('#settings-toggle', 'aria-expanded'), 'false');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'settings-toggle', 'focus returns to the toggle');

      const req = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
      await setSettings(page, { 'max-tokens': '4' });
      await page.fill('#prompt', 'hi');
      await page.press('#prompt', 'Enter');
      const body = (await req).postDataJSON();
      assert.equal(body.temperature, 0.7);
      assert.equal(body.top_p, 0.9);
      assert.equal(body.max_tokens, 4);
      await waitForAnswerDone(page);
    } finally {
      await context.close();
    }
  });
});

describe('chat page with an API key', () => {
  let keyed;

  before(async () => {
    keyed = await startServer('api-key', ['--api-key', API_KEY]);
  });

  after(async () => {
    await keyed?.stop();
  });

  test('asks for the key on 401, keeps it in session storage and works with it', async (t) => {
    const probe = await fetch(keyed.url + '/v1/models');
    if (probe.status !== 401) {
      t.skip(`the server does not enforce --api-key yet (GET /v1/models without a key answered ${probe.status}, not 401)`);
      return;
    }
    const probeBody = await probe.json();
    assert.equal(probeBody.error.code, 'invalid_api_key');

    const { context, page, requests } = await openPage(keyed.url, { waitReady: false });
    try {
      // The page itself loads without a key; its first API call (the model list) gets the 401 and asks.
      await page.waitForSelector('#key-dialog[open]');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'api-key');
      await screenshot(page, '10-api-key-prompt');

      // A wrong key is refused and the dialog says so.
      await page.fill('#api-key', 'wrong-key');
      await page.press('#api-key', 'Enter');
      await page.waitForFunction(() => document.getElementById('key-error').textContent.includes('rejected'));
      assert.equal(await page.isVisible('#key-dialog'), true);

      await page.fill('#api-key', API_KEY);
      await page.click('#key-submit');
      await page.waitForFunction(() => !document.getElementById('key-dialog').open);
      await page.waitForSelector('html[data-ready="true"]');
      assert.equal(await page.inputValue('#model'), MODEL_ALIAS);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('youtu-chat:api-key')), API_KEY);
      assert.ok(!(await page.evaluate(() => JSON.stringify({ ...localStorage }))).includes(API_KEY), 'the key never goes to localStorage');

      await setSettings(page, { 'max-tokens': '16', 'extra-json': '{"ignore_eos": true}' });
      await page.fill('#prompt', 'Hello with a key');
      await page.press('#prompt', 'Enter');
      await waitForAnswerDone(page);
      const chat = chatRequests(requests).pop();
      assert.equal(chat.headers().authorization, `Bearer ${API_KEY}`);
      assert.ok((await lastAnswer(page).locator('.msg-content').textContent()).length > 0);
      assert.match(await page.textContent('#usage'), /completion 16/);
      await screenshot(page, '11-api-key-answer');

      // A reload in the same tab keeps the key (session storage): no prompt.
      await page.reload();
      await page.waitForSelector('html[data-ready="true"]');
      assert.equal(await page.evaluate(() => document.getElementById('key-dialog').open), false);
      assert.equal(await page.inputValue('#model'), MODEL_ALIAS);
    } finally {
      await context.close();
    }
  });
});
