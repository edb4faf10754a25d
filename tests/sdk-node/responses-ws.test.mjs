// The official openai npm SDK (ResponsesWS from openai/resources/responses/ws, on the ws package) against the real
// server: a three-turn WebSocket session continued by previous_response_id with store:false, an error event, and
// client.responses.compact followed by a turn on the compacted items. Prints the frames abridged (one line each).
import test from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ResponsesWS } from 'openai/resources/responses/ws';

const baseURL = process.env.YOUTU_BASE_URL;
const apiKey = process.env.YOUTU_API_KEY ?? 'unused';
const model = process.env.YOUTU_MODEL;
if (!baseURL || !model) {
  throw new Error('set YOUTU_BASE_URL (http://host:port/v1) and YOUTU_MODEL; NodeSdkTests does');
}

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 300_000 });

function abridge(e) {
  const r = e.response;
  switch (e.type) {
    case 'response.created':
    case 'response.in_progress':
      return `${e.sequence_number} ${e.type} id=${r.id} previous=${r.previous_response_id} store=${r.store}`;
    case 'response.completed':
    case 'response.incomplete':
      return `${e.sequence_number} ${e.type} status=${r.status} usage=${JSON.stringify({ in: r.usage.input_tokens, cached: r.usage.input_tokens_details.cached_tokens, out: r.usage.output_tokens })}`;
    case 'response.output_text.delta':
      return `${e.sequence_number} ${e.type} ${JSON.stringify(e.delta)}`;
    case 'error':
      return `error status=${e.status} ${JSON.stringify(e.error)}`;
    default:
      return `${e.sequence_number} ${e.type}`;
  }
}

/** Sends one response.create and collects its events up to the terminal one (or an error event). */
async function turn(ws, body) {
  const events = [];
  const done = new Promise((resolve, reject) => {
    const onEvent = (e) => {
      events.push(e);
      if (e.type === 'response.completed' || e.type === 'response.incomplete' || e.type === 'response.failed' || e.type === 'error') {
        ws.off('event', onEvent);
        ws.off('close', onClose);
        resolve(events);
      }
    };
    const onClose = (code, reason) => reject(new Error(`closed ${code} ${reason} after ${events.length} events`));
    ws.on('event', onEvent);
    ws.on('close', onClose);
  });
  ws.send({ type: 'response.create', ...body });
  return done;
}

const user = (text) => [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }];

test('ResponsesWS: three turns on one connection, store:false, continued by previous_response_id', async () => {
  const ws = new ResponsesWS(client);
  ws.on('error', () => {}); // error events are asserted on below; the SDK also reports them here
  try {
    let previous = null;
    let lastInput = 0;
    for (let n = 1; n <= 3; n++) {
      const events = await turn(ws, {
        model, store: false, max_output_tokens: 8, temperature: 0, reasoning: { effort: 'none' },
        ...(previous ? { previous_response_id: previous } : {}),
        input: user(`Turn ${n}: tell me something.`),
      });
      console.log(`turn ${n}:\n  ` + events.map(abridge).join('\n  '));
      assert.equal(events[0].type, 'response.created');
      const last = events.at(-1);
      assert.ok(['response.completed', 'response.incomplete'].includes(last.type), JSON.stringify(last));
      assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
      assert.equal(last.response.previous_response_id, previous);
      assert.equal(last.response.store, false);
      assert.ok(last.response.usage.input_tokens > lastInput);
      lastInput = last.response.usage.input_tokens;
      previous = last.response.id;
    }

    const refused = await turn(ws, { model, input: user('Hi'), previous_response_id: 'resp_unknown' });
    console.log('unknown previous_response_id:\n  ' + refused.map(abridge).join('\n  '));
    assert.equal(refused.length, 1);
    assert.equal(refused[0].status, 404);
    assert.equal(refused[0].error.code, 'previous_response_not_found');
  } finally {
    ws.close({ code: 1000, reason: 'done' });
  }
});

test('responses.compact: user messages plus a sealed compaction item, accepted back as input', async () => {
  const history = [
    ...user('Plan a trip to Paris.'),
    { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: Array.from({ length: 60 }, (_, i) => `step${i}`).join(' ') }] },
    ...user('Book the museum for Tuesday.'),
  ];
  const compacted = await client.responses.compact({ model, input: history, max_output_tokens: 24 });
  console.log(`compact: ${compacted.output.map((i) => i.type + (i.role ? ':' + i.role : '')).join(', ')} usage=${JSON.stringify(compacted.usage)}`);
  assert.equal(compacted.object, 'response.compaction');
  assert.equal(compacted.output.at(-1).type, 'compaction');
  assert.ok(compacted.output.at(-1).encrypted_content.length > 0);
  const next = await client.responses.create({
    model, max_output_tokens: 4, reasoning: { effort: 'none' },
    input: [...compacted.output, ...user('And Wednesday?')],
  });
  console.log(`next turn on the compacted items: status=${next.status} usage=${JSON.stringify(next.usage)}`);
  assert.ok(['completed', 'incomplete'].includes(next.status));
});
