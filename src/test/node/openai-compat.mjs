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
      // abort, then leave the loop: awaiting another chunk of an aborted body could wait on a promise that never
      // settles when the server had already sent the whole stream (node exited 13, "unsettled top-level await")
      if (++seen === 2) {
        controller.abort();
        break;
      }
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError, `aborted by us, got ${e}`);
  }
  assert.ok(seen >= 2);
  const after = await client.chat.completions.create({ ...chatParams, max_tokens: 2 });
  assert.equal(after.choices.length, 1, 'the server serves on');
});

// Structured output and a forced tool call: the schemas keep every value short (enums, integers, booleans), since
// the test model's text is random.
const petSchema = {
  type: 'object',
  properties: { mood: { type: 'string', enum: ['happy', 'sad', 'sleepy'] }, legs: { type: 'integer' }, fluffy: { type: 'boolean' } },
  required: ['mood', 'legs', 'fluffy'], additionalProperties: false,
};
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'The weather forecast', strict: true,
    parameters: {
      type: 'object', properties: { unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } },
      required: ['unit', 'days'], additionalProperties: false,
    },
  },
};
const timeTool = {
  type: 'function',
  function: { name: 'get_time', strict: true, parameters: { type: 'object', properties: { utc: { type: 'boolean' } }, required: ['utc'], additionalProperties: false } },
};
function assertPet(pet) {
  assert.deepEqual(Object.keys(pet).sort(), ['fluffy', 'legs', 'mood']);
  assert.ok(['happy', 'sad', 'sleepy'].includes(pet.mood), `mood: ${pet.mood}`);
  assert.ok(Number.isInteger(pet.legs), `legs: ${pet.legs}`);
  assert.equal(typeof pet.fluffy, 'boolean');
}
function assertWeatherArgs(args) {
  assert.deepEqual(Object.keys(args).sort(), ['days', 'unit']);
  assert.ok(['celsius', 'fahrenheit'].includes(args.unit), `unit: ${args.unit}`);
  assert.ok(Number.isInteger(args.days), `days: ${args.days}`);
}
const askWeather = { model, messages: [{ role: 'user', content: 'What is the weather?' }], max_tokens: 200, temperature: 0 };

await check('structured output: response_format json_schema, parsed by chat.completions.parse', async () => {
  const c = await client.chat.completions.parse({
    model, messages: [{ role: 'user', content: 'Describe a pet' }], max_tokens: 200, temperature: 0,
    response_format: { type: 'json_schema', json_schema: { name: 'pet', strict: true, schema: petSchema } },
  });
  assert.equal(c.choices[0].finish_reason, 'stop');
  const message = c.choices[0].message;
  assertPet(message.parsed);
  assert.deepEqual(message.parsed, JSON.parse(message.content));
});

await check('structured output: json_object', async () => {
  const c = await client.chat.completions.create({ ...askWeather, response_format: { type: 'json_object' } });
  assert.equal(c.choices[0].finish_reason, 'stop');
  const value = JSON.parse(c.choices[0].message.content);
  assert.equal(typeof value, 'object');
  assert.ok(value !== null && !Array.isArray(value), c.choices[0].message.content);
});

await check('forced tool call: tool_choice required, tool_calls with parsed_arguments', async () => {
  const c = await client.chat.completions.parse({ ...askWeather, tools: [weatherTool], tool_choice: 'required' });
  const choice = c.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.match(call.id, /^call_/);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assertWeatherArgs(call.function.parsed_arguments);
  assert.deepEqual(call.function.parsed_arguments, JSON.parse(call.function.arguments));
});

await check('forced tool call: a named function among two', async () => {
  const c = await client.chat.completions.parse({
    ...askWeather, tools: [weatherTool, timeTool], tool_choice: { type: 'function', function: { name: 'get_time' } },
  });
  const call = c.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_time');
  assert.deepEqual(Object.keys(call.function.parsed_arguments), ['utc']);
  assert.equal(typeof call.function.parsed_arguments.utc, 'boolean');
});

await check('forced tool call streamed: the stream helper rebuilds the call from the deltas', async () => {
  const stream = client.chat.completions.stream({ ...askWeather, tools: [weatherTool], tool_choice: 'required' });
  const names = [];
  stream.on('tool_calls.function.arguments.done', (e) => names.push(e.name));
  const c = await stream.finalChatCompletion();
  assert.equal(c.choices[0].finish_reason, 'tool_calls');
  const call = c.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assertWeatherArgs(call.function.parsed_arguments);
  assert.deepEqual(names, ['get_weather']);
});

console.log(failures === 0 ? 'all OpenAI Node SDK checks passed' : `${failures} OpenAI Node SDK check(s) FAILED`);
process.exit(failures);
