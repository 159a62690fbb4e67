// Native llama.cpp (node-llama-cpp's prebuilt CPU libraries) as the reference for kvfn's model-parity tests.
//
//   node reference.mjs request.json     (or the request on stdin)
//
// Request:
//   { "threads": 1,
//     "models": [ { "name": "llama-Q8_0", "path": "/tmp/m.gguf", "contextSize": 256, "vocabOnly": false,
//                   "prompts": [[1, 17, 42]], "steps": 16, "logprobSteps": 16, "texts": ["Once upon a time"] } ] }
// Prompts are token ids (no BOS is added: put it in the prompt), so tokenizer differences cannot confound the
// model check. For each prompt the script runs `steps` greedy steps (temperature 0: llama.cpp's greedy sampler,
// nothing else in the chain) and prints the chosen tokens and, for the first `logprobSteps` steps (default: all),
// the log-softmax of that step's logits over the whole vocabulary (what the next token was chosen from; null where
// llama.cpp's float softmax underflowed to 0). Texts are tokenized as llama_tokenize does without adding BOS/EOS,
// once treating special-token text as plain text and once parsing it ("tokensParsingSpecial").
//
// Output (stdout, one JSON document):
//   { "llamaCpp": {...build info...}, "models": [ { "name", "vocab", "prompts": [ { "prompt", "tokens",
//     "logprobs": [[...], ...] } ], "texts": [ { "text", "tokens", "tokensParsingSpecial" } ] } ] }
// On any error: a message on stderr and exit status 1.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import {readFileSync} from "node:fs";

function fail(message) {
    process.stderr.write(`reference.mjs: ${message}\n`);
    process.exit(1);
}

function readRequest() {
    const source = process.argv[2];
    let text;
    try {
        text = source == null || source === "-" ? readFileSync(0, "utf8") : readFileSync(source, "utf8");
    } catch (e) {
        fail(`cannot read the request ${source ?? "(stdin)"}: ${e.message}`);
    }
    try {
        return JSON.parse(text);
    } catch (e) {
        fail(`the request is not JSON: ${e.message}`);
    }
}

function checkTokens(what, tokens, vocab) {
    if (!Array.isArray(tokens) || tokens.length === 0) fail(`${what} must be a non-empty array of token ids`);
    for (const t of tokens) {
        if (!Number.isInteger(t) || t < 0 || t >= vocab) fail(`${what}: token ${t} is outside the vocabulary of ${vocab}`);
    }
}

// log-softmax over the vocabulary from node-llama-cpp's probabilities (softmax of the raw logits in float32)
function logprobVector(probabilities, vocab) {
    const out = new Array(vocab).fill(null);
    for (const [token, p] of probabilities) {
        if (p > 0) out[token] = Math.round(Math.log(p) * 1e6) / 1e6;
    }
    return out;
}

async function greedy(sequence, prompt, steps, logprobSteps, vocab) {
    await sequence.clearHistory();
    const want = (i) => ({generateNext: {token: true, probabilities: i < logprobSteps, options: {temperature: 0}}});
    const tokens = [], logprobs = [];
    let input = prompt.map((t, i) => (i === prompt.length - 1 ? [t, want(0)] : t));
    for (let i = 0; i < steps; i++) {
        const results = await sequence.controlledEvaluate(input);
        const next = results[input.length - 1]?.next;
        if (next == null || next.token == null) fail(`llama.cpp produced no token at step ${i}`);
        tokens.push(next.token);
        if (i < logprobSteps) logprobs.push(logprobVector(next.probabilities, vocab));
        input = [[next.token, want(i + 1)]];
    }
    return {prompt, tokens, logprobs};
}

async function runModel(llama, spec, threads) {
    if (typeof spec.path !== "string") fail("every model needs a \"path\"");
    const name = spec.name ?? spec.path;
    const model = await llama.loadModel({modelPath: spec.path, gpuLayers: 0, vocabOnly: spec.vocabOnly === true});
    try {
        const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
        if (!Number.isInteger(vocab)) fail(`${name}: the GGUF has no tokenizer.ggml.tokens array`);
        const result = {name, vocab, prompts: [], texts: []};
        for (const text of spec.texts ?? []) {
            result.texts.push({
                text,
                tokens: Array.from(model.tokenize(text, false)),
                tokensParsingSpecial: Array.from(model.tokenize(text, true)),
            });
        }
        const prompts = spec.prompts ?? [];
        if (prompts.length > 0) {
            if (spec.vocabOnly === true) fail(`${name}: a vocab-only model cannot run prompts`);
            const steps = spec.steps ?? 16;
            const logprobSteps = spec.logprobSteps ?? steps;
            if (!Number.isInteger(steps) || steps < 1) fail(`${name}: steps must be a positive integer, got ${steps}`);
            const contextSize = spec.contextSize ?? Math.max(...prompts.map((p) => p.length)) + steps;
            // K/V kept in F32 (llama.cpp's default is F16) and no flash attention (on CPU it rounds K/V to F16 whatever
            // the cache type), so the comparison is of the weights and the arithmetic, not of the cache's rounding;
            // "kvCacheType": "F16" and "flashAttention": true in the model spec restore llama.cpp's defaults.
            const kvType = spec.kvCacheType ?? "F32";
            const context = await model.createContext({contextSize, sequences: 1, threads, batchSize: contextSize,
                flashAttention: spec.flashAttention === true,
                experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType});
            try {
                const sequence = context.getSequence();
                for (const [i, prompt] of prompts.entries()) {
                    checkTokens(`${name} prompt ${i}`, prompt, vocab);
                    if (prompt.length + steps > contextSize) {
                        fail(`${name} prompt ${i}: ${prompt.length} tokens + ${steps} steps exceed the context of ${contextSize}`);
                    }
                    result.prompts.push(await greedy(sequence, prompt, steps, logprobSteps, vocab));
                }
            } finally {
                await context.dispose();
            }
        }
        return result;
    } finally {
        await model.dispose();
    }
}

const request = readRequest();
const threads = request.threads ?? 1;
if (!Array.isArray(request.models)) fail("the request needs a \"models\" array");
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error});
const output = {
    llamaCpp: {
        nodeLlamaCpp: JSON.parse(readFileSync(new URL("./node_modules/node-llama-cpp/package.json", import.meta.url), "utf8")).version,
        release: llama.llamaCppRelease.release, buildType: llama.buildType, threads, systemInfo: llama.systemInfo,
    },
    models: [],
};
for (const spec of request.models) {
    try {
        output.models.push(await runModel(llama, spec, threads));
    } catch (e) {
        fail(`${spec.name ?? spec.path}: ${e.message}`);
    }
}
process.stdout.write(JSON.stringify(output) + "\n");
await llama.dispose();
