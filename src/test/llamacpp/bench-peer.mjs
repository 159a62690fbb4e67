// Native llama.cpp (node-llama-cpp's prebuilt CPU libraries) as the speed peer of kvfn's benchmark suite
// (dev.kvfn.bench.suite.Suite starts it and drives it; nothing here is timed from outside).
//
//   node bench-peer.mjs
//
// One JSON command per line on stdin, one JSON answer per line on stdout (in order); times are measured here,
// around the llama.cpp calls, in nanoseconds, so process start, model load and the pipe are never counted.
//   {"op": "info"}                                   -> {"llamaCpp": "versions and the CPU features of the build"}
//   {"op": "load", "id": "Q8_0", "path": "m.gguf", "threads": 2, "contextSize": 1024, "batchSize": 512,
//    "streams": 16, "streamContextSize": 128}       -> {"loadMillis": ..}
//   {"op": "prefill", "id": "Q8_0", "tokens": [1, 5, ...]}
//        the prompt into a cleared sequence and the first greedy token -> {"ttftNanos": ..}
//   {"op": "decode", "id": "Q8_0", "tokens": [1], "n": 129}
//        n greedy tokens after the prompt -> {"tokens": n', "ttftNanos": .., "decodeNanos": first to last token}
//   {"op": "streams", "id": "Q8_0", "prompts": [[1, ...], ...], "n": 64}
//        one sequence per prompt, all at once (node-llama-cpp batches them into one llama_decode per step)
//        -> {"times": [[ns of each token], ...]} on one clock
//   {"op": "quit"}
// Prompts are token ids (put the BOS in them); sampling is greedy (temperature 0). An error answers
// {"error": "..."} and the script goes on; a malformed line ends it with status 1.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import readline from "node:readline";
import {readFileSync} from "node:fs";

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const models = new Map();

const now = () => process.hrtime.bigint();
const nanos = (from, to) => Number(to - from);

function entry(id) {
    const e = models.get(id);
    if (e == null) throw new Error(`no model loaded as "${id}"`);
    return e;
}

function checkTokens(tokens, vocab) {
    if (!Array.isArray(tokens) || tokens.length === 0) throw new Error("tokens must be a non-empty array of token ids");
    for (const t of tokens) {
        if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new Error(`token ${t} is outside the vocabulary of ${vocab}`);
    }
}

async function load(cmd) {
    if (models.has(cmd.id)) throw new Error(`"${cmd.id}" is already loaded`);
    const t0 = now();
    const model = await llama.loadModel({modelPath: cmd.path, gpuLayers: 0});
    const threads = {ideal: cmd.threads, min: cmd.threads};
    const context = await model.createContext({contextSize: cmd.contextSize, batchSize: cmd.batchSize, sequences: 1, threads});
    const streams = cmd.streams > 0
        ? await model.createContext({contextSize: cmd.streamContextSize, batchSize: cmd.batchSize, sequences: cmd.streams, threads})
        : null;
    const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? Number.MAX_SAFE_INTEGER;
    models.set(cmd.id, {model, context, sequence: context.getSequence(), streams, vocab});
    return {loadMillis: nanos(t0, now()) / 1e6};
}

// Tokens until n are out (or the model ends the sequence); the times of each, on the shared clock.
async function generate(sequence, tokens, n, times) {
    await sequence.clearHistory();
    const start = now();
    let count = 0;
    for await (const _ of sequence.evaluate(tokens, {temperature: 0})) {
        times.push(now());
        if (++count >= n) break;
    }
    return start;
}

async function prefill(cmd) {
    const e = entry(cmd.id);
    checkTokens(cmd.tokens, e.vocab);
    const times = [];
    const start = await generate(e.sequence, cmd.tokens, 1, times);
    if (times.length === 0) throw new Error("llama.cpp produced no token");
    return {ttftNanos: nanos(start, times[0])};
}

async function decode(cmd) {
    const e = entry(cmd.id);
    checkTokens(cmd.tokens, e.vocab);
    const times = [];
    const start = await generate(e.sequence, cmd.tokens, cmd.n, times);
    if (times.length === 0) throw new Error("llama.cpp produced no token");
    return {tokens: times.length, ttftNanos: nanos(start, times[0]), decodeNanos: nanos(times[0], times[times.length - 1])};
}

async function streams(cmd) {
    const e = entry(cmd.id);
    if (e.streams == null) throw new Error(`"${cmd.id}" was loaded without stream sequences`);
    if (cmd.prompts.length > e.streams.totalSequences) {
        throw new Error(`${cmd.prompts.length} streams but only ${e.streams.totalSequences} sequences`);
    }
    const sequences = cmd.prompts.map(() => e.streams.getSequence());
    try {
        const origin = now();
        const times = cmd.prompts.map(() => []);
        await Promise.all(cmd.prompts.map((p, i) => {
            checkTokens(p, e.vocab);
            return generate(sequences[i], p, cmd.n, times[i]);
        }));
        return {times: times.map((ts) => ts.map((t) => nanos(origin, t)))};
    } finally {
        for (const s of sequences) s.dispose();
    }
}

function info() {
    const release = llama.llamaCppRelease;
    return {llamaCpp: `node-llama-cpp ${packageVersion("node-llama-cpp")}, llama.cpp release "${release?.release ?? "?"}" as its build metadata names it (${llama.buildType}), `
        + llama.systemInfo.replace(/\s*\|\s*$/, "")};
}

function packageVersion(name) {
    try {
        return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version;
    } catch {
        return "?";
    }
}

const ops = {info, load, prefill, decode, streams};
const lines = readline.createInterface({input: process.stdin, terminal: false});
for await (const line of lines) {
    if (line.trim() === "") continue;
    let cmd;
    try {
        cmd = JSON.parse(line);
    } catch (e) {
        process.stderr.write(`bench-peer.mjs: not JSON: ${line}\n`);
        process.exit(1);
    }
    if (cmd.op === "quit") break;
    let answer;
    try {
        const op = ops[cmd.op];
        if (op == null) throw new Error(`unknown op "${cmd.op}"`);
        answer = await op(cmd);
    } catch (e) {
        answer = {error: e.message ?? String(e)};
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
}
for (const e of models.values()) {
    await e.context.dispose();
    if (e.streams != null) await e.streams.dispose();
    await e.model.dispose();
}
await llama.dispose();
