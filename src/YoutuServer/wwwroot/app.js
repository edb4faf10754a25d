// Youtu chat: the server's built-in page. Plain ES module, no build step, no network but this server.
// Streams /v1/chat/completions (SSE), keeps the conversation in localStorage and an API key in sessionStorage.

const STORE_CONVERSATION = 'youtu-chat:conversation';
const STORE_SETTINGS = 'youtu-chat:settings';
const STORE_KEY = 'youtu-chat:api-key';

const $ = (id) => document.getElementById(id);
const el = {
  conversation: $('conversation'),
  empty: $('empty-state'),
  error: $('error'),
  errorText: $('error-text'),
  errorRetry: $('error-retry'),
  errorDismiss: $('error-dismiss'),
  composer: $('composer'),
  prompt: $('prompt'),
  send: $('send'),
  stop: $('stop'),
  thinking: $('thinking'),
  usage: $('usage'),
  status: $('status'),
  newChat: $('new-chat'),
  settingsToggle: $('settings-toggle'),
  settings: $('settings'),
  settingsClose: $('settings-close'),
  settingsError: $('settings-error'),
  model: $('model'),
  modelBadge: $('model-badge'),
  temperature: $('temperature'),
  topP: $('top-p'),
  maxTokens: $('max-tokens'),
  system: $('system-prompt'),
  tools: $('tools-json'),
  extra: $('extra-json'),
  forgetKey: $('forget-key'),
  keyDialog: $('key-dialog'),
  keyForm: $('key-form'),
  keyInput: $('api-key'),
  keyError: $('key-error'),
  keyCancel: $('key-cancel'),
};

// ------------------------------------------------------------------ storage

function readJson(storage, key, fallback) {
  try {
    const raw = storage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function writeJson(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the page still works, it just forgets.
  }
}

const state = {
  /** @type {{role: 'user'|'assistant', content: string, reasoning?: string, tool_calls?: {id?: string, name: string, arguments: string}[], finish?: string, stopped?: boolean, usage?: object}[]} */
  messages: [],
  busy: false,
  controller: null,
  /** Bumped by "New chat": an answer still finishing for the old conversation is dropped. */
  epoch: 0,
  /** The messages to resend when the user presses Retry. */
  retryable: false,
  models: [],
};

function loadConversation() {
  const saved = readJson(localStorage, STORE_CONVERSATION, null);
  state.messages = saved && Array.isArray(saved.messages) ? saved.messages.filter((m) => m && (m.role === 'user' || m.role === 'assistant')) : [];
}

function saveConversation() {
  writeJson(localStorage, STORE_CONVERSATION, { version: 1, messages: state.messages });
}

const SETTINGS_FIELDS = ['model', 'temperature', 'topP', 'maxTokens', 'system', 'tools', 'extra'];

function loadSettings() {
  const s = readJson(localStorage, STORE_SETTINGS, {});
  for (const f of SETTINGS_FIELDS) {
    if (typeof s[f] === 'string' && f !== 'model') el[f].value = s[f];
  }
  el.thinking.checked = s.thinking === true;
  return s;
}

function saveSettings() {
  const s = { thinking: el.thinking.checked };
  for (const f of SETTINGS_FIELDS) s[f] = el[f].value;
  writeJson(localStorage, STORE_SETTINGS, s);
}

function apiKey() {
  try {
    return sessionStorage.getItem(STORE_KEY) || '';
  } catch {
    return '';
  }
}

function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(STORE_KEY, key);
    else sessionStorage.removeItem(STORE_KEY);
  } catch {
    // ignore
  }
  el.forgetKey.hidden = !key;
}

function apiFetch(path, init = {}) {
  const headers = new Headers(init.headers || {});
  const key = apiKey();
  if (key) headers.set('Authorization', `Bearer ${key}`);
  // Relative paths: the page also works behind a proxy that mounts the server under a prefix.
  return fetch(path, { ...init, headers });
}

// ------------------------------------------------------------------ rendering

function announce(text) {
  el.status.textContent = '';
  // A fresh text node so screen readers announce a repeated message too.
  requestAnimationFrame(() => { el.status.textContent = text; });
}

function nearBottom() {
  const c = el.conversation;
  return c.scrollHeight - c.scrollTop - c.clientHeight < 80;
}

function scrollToEnd() {
  el.conversation.scrollTop = el.conversation.scrollHeight;
}

function formatArguments(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function formatUsage(m) {
  const parts = [];
  const u = m.usage;
  if (u) {
    parts.push(`prompt ${u.prompt_tokens} · completion ${u.completion_tokens} · total ${u.total_tokens} tokens`);
    const reasoning = u.completion_tokens_details && u.completion_tokens_details.reasoning_tokens;
    if (reasoning) parts.push(`${reasoning} reasoning`);
  } else if (m.streamedTokens) {
    parts.push(`~${m.streamedTokens} tokens streamed`);
  }
  if (m.tokensPerSecond) parts.push(`${m.tokensPerSecond.toFixed(1)} tok/s`);
  if (m.seconds) parts.push(`${m.seconds.toFixed(1)} s`);
  return parts.join(' · ');
}

function metaText(m) {
  const parts = [];
  if (m.stopped) parts.push('Stopped');
  else if (m.finish === 'length') parts.push('Cut off at max tokens');
  else if (m.finish === 'tool_calls') parts.push('Tool calls');
  if (m.error) parts.push(m.error);
  return parts.join(' · ');
}

/** Creates the article for one message; returns a view whose update() re-renders it from the message. */
function renderMessage(m) {
  const tpl = $(m.role === 'user' ? 'tpl-user' : 'tpl-assistant');
  const node = tpl.content.firstElementChild.cloneNode(true);
  const view = { node, message: m, update: () => {} };
  if (m.role === 'user') {
    node.querySelector('.msg-content').textContent = m.content;
  } else {
    const details = node.querySelector('.reasoning');
    const summary = details.querySelector('summary');
    const reasoningText = node.querySelector('.reasoning-text');
    const content = node.querySelector('.msg-content');
    const calls = node.querySelector('.tool-calls');
    const meta = node.querySelector('.msg-meta');
    let userToggled = false;
    summary.addEventListener('click', () => { userToggled = true; });
    view.update = (streaming) => {
      const hasReasoning = !!m.reasoning;
      details.hidden = !hasReasoning;
      if (hasReasoning) {
        reasoningText.textContent = m.reasoning;
        const thinkingNow = streaming && !m.content && !(m.tool_calls && m.tool_calls.length);
        summary.textContent = thinkingNow ? 'Thinking…' : 'Reasoning';
        // Open while the model thinks, folded away once the answer starts (unless the user chose).
        if (!userToggled) details.open = thinkingNow;
      }
      content.textContent = m.content || '';
      content.hidden = !m.content && !streaming;
      const list = m.tool_calls || [];
      while (calls.children.length > list.length) calls.lastElementChild.remove();
      list.forEach((call, i) => {
        let card = calls.children[i];
        if (!card) {
          card = $('tpl-tool-call').content.firstElementChild.cloneNode(true);
          calls.append(card);
        }
        card.setAttribute('aria-label', `Tool call ${call.name || ''}`.trim());
        card.querySelector('.tool-call-name').textContent = call.name || '…';
        card.querySelector('.tool-call-id').textContent = call.id ? `id ${call.id}` : '';
        card.querySelector('.tool-call-args').textContent = streaming ? call.arguments : formatArguments(call.arguments);
      });
      calls.hidden = list.length === 0;
      const metaLine = [metaText(m), streaming ? '' : formatUsage(m)].filter(Boolean).join(' · ');
      meta.textContent = metaLine;
      meta.hidden = !metaLine;
      node.classList.toggle('streaming', !!streaming);
      node.setAttribute('aria-busy', streaming ? 'true' : 'false');
    };
    view.update(false);
  }
  return view;
}

function renderAll() {
  for (const n of [...el.conversation.querySelectorAll('.msg')]) n.remove();
  for (const m of state.messages) el.conversation.append(renderMessage(m).node);
  el.empty.hidden = state.messages.length > 0;
  scrollToEnd();
}

function showUsage(m) {
  el.usage.textContent = m ? formatUsage(m) : '';
}

// ------------------------------------------------------------------ errors

function describeError(status, body, headers) {
  const err = body && body.error ? body.error : null;
  const message = err && err.message ? err.message : `HTTP ${status}`;
  const code = err && err.code ? ` ${err.code}` : '';
  const param = err && err.param ? ` (field: ${err.param})` : '';
  if (status === 429) {
    const after = headers && headers.get('Retry-After');
    return `The server is busy (429${code}): ${message} ${after ? `Retry in ${after} s.` : 'Retry in a moment.'}`;
  }
  if (status === 503) {
    const after = headers && headers.get('Retry-After');
    return `The server is not ready (503${code}): ${message}${after ? ` Retry in ${after} s.` : ''}`;
  }
  if (status === 413) return `The conversation is too large for the server (413${code}): ${message} Start a new chat.`;
  return `Error ${status}${code}: ${message}${param}`;
}

function showError(text, retry) {
  el.errorText.textContent = text;
  el.errorRetry.hidden = !retry;
  state.retryable = !!retry;
  el.error.hidden = false;
}

function clearError() {
  el.error.hidden = true;
  el.errorText.textContent = '';
  state.retryable = false;
}

// ------------------------------------------------------------------ API key dialog

let keyWaiter = null;

/** Opens the key dialog; resolves true when a key was entered, false when cancelled. */
function askForKey(rejected) {
  if (keyWaiter) return keyWaiter.promise;
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  keyWaiter = { promise, resolve };
  el.keyError.textContent = rejected ? 'The server rejected that key. Check it and try again.' : '';
  el.keyInput.value = '';
  if (!el.keyDialog.open) el.keyDialog.showModal();
  el.keyInput.focus();
  return promise;
}

function finishKeyDialog(ok) {
  if (el.keyDialog.open) el.keyDialog.close();
  const w = keyWaiter;
  keyWaiter = null;
  if (w) w.resolve(ok);
  el.prompt.focus();
}

el.keyForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const key = el.keyInput.value.trim();
  if (!key) {
    el.keyError.textContent = 'Enter a key.';
    el.keyInput.focus();
    return;
  }
  setApiKey(key);
  finishKeyDialog(true);
});
el.keyCancel.addEventListener('click', () => finishKeyDialog(false));
el.keyDialog.addEventListener('cancel', (e) => { e.preventDefault(); finishKeyDialog(false); });

el.forgetKey.addEventListener('click', () => {
  setApiKey('');
  announce('API key forgotten.');
  el.settingsToggle.focus();
});

/** Handles a 401: asks for a key; true means "try again". */
async function handleUnauthorized() {
  const hadKey = !!apiKey();
  if (hadKey) setApiKey('');
  const ok = await askForKey(hadKey);
  if (!ok) showError('This server needs an API key. Send a message again to enter one.', false);
  return ok;
}

// ------------------------------------------------------------------ models

async function loadModels(preferred) {
  let res;
  try {
    res = await apiFetch('v1/models');
  } catch {
    return;
  }
  if (res.status === 401) {
    if (await handleUnauthorized()) await loadModels(preferred);
    return;
  }
  if (!res.ok) return;
  const list = await res.json().catch(() => null);
  const ids = list && Array.isArray(list.data) ? list.data.map((m) => m.id).filter((id) => typeof id === 'string') : [];
  state.models = ids;
  el.model.replaceChildren(...ids.map((id) => new Option(id, id)));
  if (ids.length === 0) el.model.append(new Option('(server default)', ''));
  el.model.value = ids.includes(preferred) ? preferred : ids[0] || '';
  el.modelBadge.textContent = el.model.value;
}

// ------------------------------------------------------------------ request

function parseJsonSetting(field, label, kind) {
  const text = field.value.trim();
  if (!text) return { value: undefined };
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `${label} is not valid JSON: ${e.message}` };
  }
  if (kind === 'array' && !Array.isArray(value)) return { error: `${label} must be a JSON array.` };
  if (kind === 'object' && (value === null || typeof value !== 'object' || Array.isArray(value))) return { error: `${label} must be a JSON object.` };
  return { value };
}

function numberSetting(field) {
  const text = field.value.trim();
  if (!text) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function buildRequest() {
  const tools = parseJsonSetting(el.tools, 'Tools', 'array');
  const extra = parseJsonSetting(el.extra, 'Extra request fields', 'object');
  const problem = tools.error || extra.error;
  el.settingsError.textContent = problem || '';
  if (problem) return { error: problem };

  const messages = [];
  const system = el.system.value.trim();
  if (system) messages.push({ role: 'system', content: system });
  for (const m of state.messages) {
    if (m.role === 'user') {
      messages.push({ role: 'user', content: m.content });
    } else if (m.content || (m.tool_calls && m.tool_calls.length)) {
      const out = { role: 'assistant', content: m.content || null };
      if (m.tool_calls && m.tool_calls.length) {
        out.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments || '{}' } }));
      }
      messages.push(out);
    }
  }

  const body = {
    messages,
    stream: true,
    stream_options: { include_usage: true },
    enable_thinking: el.thinking.checked,
  };
  if (el.model.value) body.model = el.model.value;
  const temperature = numberSetting(el.temperature);
  if (temperature !== undefined) body.temperature = temperature;
  const topP = numberSetting(el.topP);
  if (topP !== undefined) body.top_p = topP;
  const maxTokens = numberSetting(el.maxTokens);
  if (maxTokens !== undefined) body.max_tokens = Math.trunc(maxTokens);
  if (tools.value && tools.value.length) body.tools = tools.value;
  return { body: { ...body, ...(extra.value || {}) } };
}

// ------------------------------------------------------------------ streaming

/** Reads an SSE body and calls onEvent(json) for each data line; returns when [DONE] or the stream ends. */
async function readSse(res, onEvent) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      buffer += value.replace(/\r\n?/g, '\n');
      let at;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (!data) continue; // comments (keep-alives) and empty events
        if (data === '[DONE]') {
          finished = true;
          return;
        }
        onEvent(JSON.parse(data));
      }
    }
  } finally {
    // Leaving early (an error event, a bad chunk): close the response so the server frees the sequence.
    if (!finished) reader.cancel().catch(() => {});
  }
}

function setBusy(busy) {
  state.busy = busy;
  const focusWasOnSend = document.activeElement === el.send;
  const focusWasOnStop = document.activeElement === el.stop;
  el.send.hidden = busy;
  el.stop.hidden = !busy;
  el.composer.setAttribute('aria-busy', busy ? 'true' : 'false');
  if (busy && focusWasOnSend) el.stop.focus();
  if (!busy && (focusWasOnStop || document.activeElement === document.body)) el.prompt.focus();
}

async function complete() {
  const built = buildRequest();
  if (built.error) {
    showError(built.error, false);
    openSettings(false);
    return;
  }
  clearError();

  const epoch = state.epoch;
  const m = { role: 'assistant', content: '', reasoning: '' };
  const view = renderMessage(m);
  el.conversation.append(view.node);
  el.empty.hidden = true;
  scrollToEnd();

  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  announce('Generating an answer…');
  const started = performance.now();
  let firstAt = 0;
  let lastAt = 0;
  let deltas = 0;
  let frame = 0;
  const repaint = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const stick = nearBottom();
      view.update(true);
      if (stick) scrollToEnd();
    });
  };

  let res;
  try {
    res = await apiFetch('v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(built.body),
      signal: controller.signal,
    });

    if (!res.ok) {
      const body = await res.json().catch(() => null);
      view.node.remove();
      state.controller = null;
      setBusy(false);
      if (res.status === 401) {
        if (await handleUnauthorized()) return complete();
        return;
      }
      showError(describeError(res.status, body, res.headers), res.status === 429 || res.status === 503 || res.status >= 500);
      announce('The request failed.');
      return;
    }

    await readSse(res, (chunk) => {
      if (chunk.error) {
        throw Object.assign(new Error(chunk.error.message || 'Generation failed.'), { serverError: chunk.error });
      }
      if (chunk.usage) m.usage = chunk.usage;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) return;
      const d = choice.delta || {};
      let got = false;
      const reasoning = d.reasoning_content ?? d.reasoning;
      if (reasoning) { m.reasoning += reasoning; got = true; }
      if (d.content) { m.content += d.content; got = true; }
      if (Array.isArray(d.tool_calls)) {
        m.tool_calls = m.tool_calls || [];
        for (const tc of d.tool_calls) {
          const i = typeof tc.index === 'number' ? tc.index : m.tool_calls.length;
          const call = m.tool_calls[i] || (m.tool_calls[i] = { name: '', arguments: '' });
          if (tc.id) call.id = tc.id;
          if (tc.function && tc.function.name) call.name = tc.function.name;
          if (tc.function && tc.function.arguments) call.arguments += tc.function.arguments;
        }
        got = true;
      }
      if (choice.finish_reason) m.finish = choice.finish_reason;
      if (got) {
        deltas++;
        lastAt = performance.now();
        if (!firstAt) firstAt = lastAt;
        repaint();
      }
    });
  } catch (e) {
    if (e && e.name === 'AbortError') {
      m.stopped = true;
    } else if (e && e.serverError) {
      m.error = `Error: ${e.serverError.message}`;
      showError(`The server failed while generating (${e.serverError.code || 'error'}): ${e.serverError.message}`, true);
    } else {
      const partial = !!(m.content || m.reasoning);
      if (!partial) {
        view.node.remove();
        state.controller = null;
        setBusy(false);
        showError(`Cannot reach the server: ${e && e.message ? e.message : e}`, true);
        announce('The request failed.');
        return;
      }
      m.error = 'Connection lost';
      showError(`The connection was lost mid-answer: ${e && e.message ? e.message : e}`, true);
    }
  }

  if (frame) cancelAnimationFrame(frame);
  if (epoch !== state.epoch) {
    // The chat was cleared while this answer streamed.
    view.node.remove();
    state.controller = null;
    setBusy(false);
    return;
  }
  const end = lastAt || performance.now();
  m.seconds = (performance.now() - started) / 1000;
  const tokens = m.usage ? m.usage.completion_tokens : deltas;
  m.streamedTokens = deltas;
  const span = (end - firstAt) / 1000;
  if (firstAt && tokens > 1 && span > 0) m.tokensPerSecond = (tokens - 1) / span;
  else if (tokens > 0 && m.seconds > 0) m.tokensPerSecond = tokens / m.seconds;
  if (!m.reasoning) delete m.reasoning;
  state.messages.push(m);
  saveConversation();
  state.controller = null;
  view.update(false);
  showUsage(m);
  setBusy(false);
  announce(m.stopped ? 'Stopped.' : 'Answer complete.');
}

async function send() {
  if (state.busy) {
    announce('Wait for the answer, or press Stop.');
    return;
  }
  const text = el.prompt.value;
  if (!text.trim()) {
    el.prompt.focus();
    return;
  }
  const m = { role: 'user', content: text };
  state.messages.push(m);
  saveConversation();
  el.conversation.append(renderMessage(m).node);
  el.empty.hidden = true;
  el.prompt.value = '';
  autoGrow();
  el.prompt.focus();
  await complete();
}

function stop() {
  if (state.controller) state.controller.abort();
}

function newChat() {
  state.epoch++;
  stop();
  state.messages = [];
  try {
    localStorage.removeItem(STORE_CONVERSATION);
  } catch {
    // ignore
  }
  clearError();
  renderAll();
  showUsage(null);
  el.prompt.focus();
  announce('New chat: the conversation was cleared.');
}

// ------------------------------------------------------------------ settings panel

function openSettings(focus = true) {
  el.settings.hidden = false;
  el.settingsToggle.setAttribute('aria-expanded', 'true');
  if (focus) el.model.focus();
}

function closeSettings() {
  el.settings.hidden = true;
  el.settingsToggle.setAttribute('aria-expanded', 'false');
  el.settingsToggle.focus();
}

el.settingsToggle.addEventListener('click', () => (el.settings.hidden ? openSettings() : closeSettings()));
el.settingsClose.addEventListener('click', closeSettings);
el.settings.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    e.preventDefault();
    closeSettings();
  }
});
for (const f of SETTINGS_FIELDS) {
  el[f].addEventListener('change', () => {
    saveSettings();
    if (f === 'tools' || f === 'extra') el.settingsError.textContent = buildRequest().error || '';
    if (f === 'model') el.modelBadge.textContent = el.model.value;
  });
}
el.thinking.addEventListener('change', () => {
  saveSettings();
  announce(el.thinking.checked ? 'Thinking on.' : 'Thinking off.');
});

// ------------------------------------------------------------------ composer

function autoGrow() {
  const t = el.prompt;
  t.style.height = 'auto';
  const max = Math.max(120, Math.floor(window.innerHeight * 0.4));
  t.style.height = `${Math.min(t.scrollHeight + 2, max)}px`;
  t.style.overflowY = t.scrollHeight + 2 > max ? 'auto' : 'hidden';
}

el.prompt.addEventListener('input', autoGrow);
el.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    send();
  }
});
el.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
el.stop.addEventListener('click', stop);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.busy && !el.keyDialog.open) {
    e.preventDefault();
    stop();
  }
});
el.newChat.addEventListener('click', newChat);
el.errorDismiss.addEventListener('click', () => {
  clearError();
  el.prompt.focus();
});
el.errorRetry.addEventListener('click', () => {
  if (state.busy) return;
  // Drop a failed partial answer, then ask again from the last user message.
  const last = state.messages[state.messages.length - 1];
  if (last && last.role === 'assistant' && last.error) {
    state.messages.pop();
    saveConversation();
    renderAll();
  }
  clearError();
  el.prompt.focus();
  complete();
});

// Another tab cleared or changed the conversation.
window.addEventListener('storage', (e) => {
  if (e.key === STORE_CONVERSATION && !state.busy) {
    loadConversation();
    renderAll();
  }
});

// ------------------------------------------------------------------ start

const settings = loadSettings();
loadConversation();
renderAll();
const lastAssistant = [...state.messages].reverse().find((m) => m.role === 'assistant');
showUsage(lastAssistant || null);
setApiKey(apiKey());
autoGrow();
el.prompt.focus();
loadModels(settings.model).finally(() => document.documentElement.setAttribute('data-ready', 'true'));
