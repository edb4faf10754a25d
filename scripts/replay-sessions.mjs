#!/usr/bin/env node
// An independent replay of the agent-session shape of `youtu-server bench sessions` (issue 21), written apart from
// the C# bench so that its figures can be checked by a second client: plain fetch, its own prompt text, its own
// streaming parser. N sessions share one system prompt; each turn of a session resends the whole history plus the
// model's last answer and a new tool result; turns are interleaved (turn t of every session before turn t + 1).
//
//   node scripts/replay-sessions.mjs --url http://127.0.0.1:8080 [--sessions 6] [--turns 4] [--system-words 700]
//        [--tool-words 120] [--max-tokens 16] [--api chat|messages] [--billing-block] [--model ID]
//
// Prints one row per turn: requests, prompt tokens, cached tokens, hit rate, mean TTFT (first streamed byte of
// content after the request was sent). Cached tokens: usage.prompt_tokens_details.cached_tokens (OpenAI),
// cache_read_input_tokens (Anthropic), else llama-server's timings.cache_n.
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]);
  return acc;
}, []));
const url = (args.url ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const sessions = +(args.sessions ?? 6), turns = +(args.turns ?? 4), maxTokens = +(args['max-tokens'] ?? 16);
const systemWords = +(args['system-words'] ?? 700), toolWords = +(args['tool-words'] ?? 120);
const api = args.api ?? 'chat', billing = args['billing-block'] === 'true';

// A deterministic word source (xorshift), different from the C# bench's prompt pool.
let state = 0x9e3779b9;
const rand = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state; };
const vocab = ('alpha river stone cloud lantern orbit copper meadow signal harbor quartz ember willow falcon ' +
  'circuit garden vector summit marble thunder pixel canyon velvet beacon compass glacier saddle prism ' +
  'anchor ribbon tunnel meteor cobalt orchard kernel lattice harvest nebula fossil sparrow trellis').split(' ');
const words = n => Array.from({ length: n }, () => vocab[rand() % vocab.length]).join(' ');

const system = `You are a coding agent working in a repository. Follow the rules below.\n${words(systemWords)}`;
const history = Array.from({ length: sessions }, (_, s) => [{ role: 'user', content: `Task ${s}: ${words(100)}` }]);

async function model() {
  if (args.model) return args.model;
  const r = await fetch(`${url}/v1/models`);
  return (await r.json()).data[0].id;
}

async function send(modelId, session) {
  const msgs = history[session];
  let body, path, headers = { 'content-type': 'application/json' };
  if (api === 'messages') {
    path = '/v1/messages';
    headers['anthropic-version'] = '2023-06-01';
    const sys = [{ type: 'text', text: system }];
    if (billing) sys.unshift({ type: 'text', text: `x-anthropic-billing-header: cc_version=2.1.${session}.x; cc_entrypoint=cli; cch=${(rand() % 0xfffff).toString(16)};` });
    body = { model: modelId, max_tokens: maxTokens, stream: true, system: sys, messages: msgs, ignore_eos: true, min_tokens: maxTokens };
  } else {
    path = '/v1/chat/completions';
    body = {
      model: modelId, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'system', content: system }, ...msgs], ignore_eos: true, min_tokens: maxTokens,
      chat_template_kwargs: { enable_thinking: false },
    };
  }
  const t0 = performance.now();
  const res = await fetch(url + path, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  let ttft = null, text = '', prompt = 0, cached = 0, buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') continue;
      const ev = JSON.parse(data);
      const piece = ev.choices?.[0]?.delta?.content ?? (ev.type === 'content_block_delta' ? ev.delta?.text : undefined);
      if (piece) { ttft ??= performance.now() - t0; text += piece; }
      const u = ev.usage ?? ev.message?.usage;
      if (u) {
        if (u.prompt_tokens !== undefined) prompt = u.prompt_tokens;
        if (u.prompt_tokens_details?.cached_tokens !== undefined) cached = u.prompt_tokens_details.cached_tokens;
        if (u.input_tokens !== undefined && u.input_tokens > 0) prompt = u.input_tokens + (u.cache_read_input_tokens ?? 0);
        if (u.cache_read_input_tokens !== undefined) cached = u.cache_read_input_tokens;
      }
      if (ev.timings?.cache_n !== undefined && !(ev.usage?.prompt_tokens_details)) {
        cached = ev.timings.cache_n; prompt = ev.timings.cache_n + ev.timings.prompt_n;
      }
    }
  }
  msgs.push({ role: 'assistant', content: text.length ? text : '(no text)' });
  msgs.push({ role: 'user', content: `Tool result:\n${words(toolWords)}` });
  return { ttft: ttft ?? performance.now() - t0, prompt, cached };
}

const id = await model();
console.log(`replay-sessions: ${url} model ${id}, api ${api}${billing ? ' + billing block' : ''}, ${sessions} sessions × ${turns} turns`);
console.log('| turn | requests | prompt | cached | hit rate | mean TTFT ms |');
console.log('|---|---|---|---|---|---|');
const all = [];
for (let t = 1; t <= turns; t++) {
  const rows = [];
  for (let s = 0; s < sessions; s++) rows.push(await send(id, s));
  all.push(...rows.map(r => ({ ...r, turn: t })));
  const p = rows.reduce((a, r) => a + r.prompt, 0), c = rows.reduce((a, r) => a + r.cached, 0);
  const ttft = rows.reduce((a, r) => a + r.ttft, 0) / rows.length;
  console.log(`| ${t} | ${rows.length} | ${p} | ${c} | ${(c / p).toFixed(3)} | ${ttft.toFixed(0)} |`);
}
const p = all.reduce((a, r) => a + r.prompt, 0), c = all.reduce((a, r) => a + r.cached, 0);
const later = all.filter(r => r.turn >= 2);
console.log(`| all | ${all.length} | ${p} | ${c} | ${(c / p).toFixed(3)} | turns 2–${turns}: ${(later.reduce((a, r) => a + r.ttft, 0) / later.length).toFixed(0)} |`);
