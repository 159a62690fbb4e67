// The official OpenAI Node SDK (openai 6.x, pinned in package.json), unmodified, against a running kvfn.
//   node openai-compat.mjs http://localhost:8080/v1
// Every check that fails is printed; the exit status is the number of failures (0: all passed).
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const baseURL = process.argv[2] ?? process.env.KVFN_BASE_URL ?? 'http://localhost:8080/v1';
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 300_000 });

let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}

async function expectError(promise, status, param) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, `an APIError, got ${e}`);
    assert.equal(e.status, status, `status: ${e.message}`);
    assert.equal(e.param, param, `param of: ${e.message}`);
    assert.equal(e.type, 'invalid_request_error');
    return e;
  }
  assert.fail(`expected a ${status} naming ${param}`);
}

const models = await client.models.list();
const model = models.data[0]?.id;

await check('models.list', async () => {
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].object, 'model');
});

await check('models.retrieve', async () => {
  const m = await client.models.retrieve(model);
  assert.equal(m.id, model);
  const e = await expectError(client.models.retrieve('no-such-model'), 404, 'model');
  assert.equal(e.code, 'model_not_found');
});

const chatParams = { model, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 12, temperature: 0 };
let chatText;

await check('chat.completions.create', async () => {
  const c = await client.chat.completions.create(chatParams);
  chatText = c.choices[0].message.content;
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.equal(c.choices[0].finish_reason, 'length');
  assert.equal(c.usage.completion_tokens, 12);
  assert.equal(typeof chatText, 'string');
});

await check('chat streaming: role in the first delta only, usage chunk last, same text', async () => {
  const stream = await client.chat.completions.create({ ...chatParams, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
  assert.equal(last.usage.completion_tokens, 12);
  const withChoices = chunks.slice(0, -1);
  assert.equal(withChoices[0].choices[0].delta.role, 'assistant');
  for (const c of withChoices.slice(1)) assert.equal(c.choices[0].delta.role, undefined, 'no role after the first delta');
  for (const c of withChoices) assert.equal(c.usage, null, 'usage: null on every chunk but the last');
  assert.equal(withChoices.at(-1).choices[0].finish_reason, 'length');
  assert.equal(withChoices.map(c => c.choices[0].delta.content ?? '').join(''), chatText);
});

const completionParams = { model, prompt: 'Hello world', max_tokens: 12, temperature: 0 };
let completionText;

await check('completions.create', async () => {
  const c = await client.completions.create(completionParams);
  completionText = c.choices[0].text;
  assert.equal(c.object, 'text_completion');
  assert.equal(c.usage.completion_tokens, 12);
});

await check('completions streaming: same text, usage chunk last', async () => {
  const stream = await client.completions.create({ ...completionParams, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) text += choice.text;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, completionText);
  assert.equal(usage.completion_tokens, 12);
});

await check('errors name the field in param', async () => {
  await expectError(client.chat.completions.create({ ...chatParams, temperature: 2.5 }), 400, 'temperature');
  await expectError(client.chat.completions.create({ ...chatParams, top_p: 1.5 }), 400, 'top_p');
  await expectError(client.chat.completions.create({ ...chatParams, logit_bias: { 42: 5 } }), 400, 'logit_bias');
  await expectError(client.chat.completions.create({ ...chatParams, frequency_penalty: 1 }), 400, 'frequency_penalty');
  await expectError(client.chat.completions.create({ ...chatParams, n: 2 }), 400, 'n');
  await expectError(client.completions.create({ ...completionParams, max_tokens: 0 }), 400, 'max_tokens');
});

await check('an aborted stream ends on the client without an error from the server', async () => {
  const controller = new AbortController();
  const stream = await client.chat.completions.create({ ...chatParams, max_tokens: 64, stream: true }, { signal: controller.signal });
  let seen = 0;
  try {
    for await (const chunk of stream) {
      if (++seen === 2) controller.abort();
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError, `aborted by us, got ${e}`);
  }
  assert.ok(seen >= 2);
  const after = await client.chat.completions.create({ ...chatParams, max_tokens: 2 });
  assert.equal(after.choices.length, 1, 'the server serves on');
});

console.log(failures === 0 ? 'all OpenAI Node SDK checks passed' : `${failures} OpenAI Node SDK check(s) FAILED`);
process.exit(failures);
