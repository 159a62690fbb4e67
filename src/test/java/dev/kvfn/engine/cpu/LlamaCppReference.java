package dev.kvfn.engine.cpu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Native llama.cpp as a test oracle: runs {@code src/test/llamacpp/reference.mjs} (node-llama-cpp's prebuilt CPU
 * libraries, pinned in that folder's package-lock.json) once for a whole list of models. Without Node or the
 * installed package the calling test is skipped, saying why; with CI=true ({@code .ci/run} installs both) it fails.
 */
final class LlamaCppReference {
    static final Path SCRIPT_DIR = Path.of("src/test/llamacpp");
    private static final ObjectMapper JSON = new ObjectMapper();

    private LlamaCppReference() {}

    /**
     * One model to run: greedy {@code steps} after each prompt (token ids, BOS included), and texts to tokenize;
     * {@code vocabOnly} loads just the vocabulary (a tokenizer-only GGUF; no prompts then).
     */
    record ModelRequest(String name, Path path, int contextSize, List<int[]> prompts, int steps, List<String> texts,
                        boolean vocabOnly) {
        ModelRequest(String name, Path path, int contextSize, List<int[]> prompts, int steps, List<String> texts) {
            this(name, path, contextSize, prompts, steps, texts, false);
        }

        static ModelRequest vocabulary(String name, Path path, List<String> texts) {
            return new ModelRequest(name, path, 0, List.of(), 1, texts, true);
        }
    }

    /** llama.cpp's answer for one prompt: the greedy tokens, and per step the log-softmax it chose from. */
    record Greedy(int[] prompt, int[] tokens, List<double[]> logprobs) {}

    /** llama.cpp's tokenization of one text without BOS/EOS: special-token text as plain text, and parsed. */
    record Tokenized(String text, int[] tokens, int[] tokensParsingSpecial) {}

    record ModelAnswer(String name, int vocab, List<Greedy> prompts, List<Tokenized> texts) {}

    /** The whole run: what llama.cpp build answered (release, CPU features) and one answer per model, in order. */
    record Answer(String build, List<ModelAnswer> models) {}

    /** Skips the calling test when Node or the package is missing, unless CI=true, where that is a failure. */
    static void requireInstalled() {
        String ci = System.getenv("CI");
        boolean onCi = ci != null && !ci.isEmpty() && !"false".equals(ci);
        boolean installed = Files.isDirectory(SCRIPT_DIR.resolve("node_modules/node-llama-cpp"))
                && Files.isDirectory(SCRIPT_DIR.resolve("node_modules/@node-llama-cpp/linux-x64"));
        String node = nodeVersion();
        String install = "run `npm ci --omit=optional --no-audit --no-fund` in " + SCRIPT_DIR;
        if (!onCi) {
            Assumptions.assumeTrue(node != null, "node is not on PATH: llama.cpp parity tests skipped");
            Assumptions.assumeTrue(installed, "node-llama-cpp is not installed (" + install + "): llama.cpp parity tests skipped");
        }
        assertTrue(node != null, "node is not on PATH (CI must install it)");
        assertTrue(Integer.parseInt(node.replaceAll("^v(\\d+).*", "$1")) >= 20, "node-llama-cpp needs Node 20 or newer, found " + node);
        assertTrue(installed, "node-llama-cpp is missing: CI must " + install);
    }

    /** Runs every model through llama.cpp in one Node process ({@code threads} compute threads; 1 is deterministic). */
    static Answer run(List<ModelRequest> models, int threads, Path workDir) throws IOException, InterruptedException {
        ObjectNode request = JSON.createObjectNode().put("threads", threads);
        ArrayNode list = request.putArray("models");
        for (ModelRequest m : models) {
            ObjectNode o = list.addObject().put("name", m.name()).put("path", m.path().toAbsolutePath().toString())
                    .put("contextSize", m.contextSize()).put("steps", m.steps()).put("vocabOnly", m.vocabOnly());
            ArrayNode prompts = o.putArray("prompts");
            for (int[] p : m.prompts()) {
                ArrayNode a = prompts.addArray();
                for (int t : p) a.add(t);
            }
            ArrayNode texts = o.putArray("texts");
            m.texts().forEach(texts::add);
        }
        Path requestFile = workDir.resolve("llamacpp-request.json");
        JSON.writeValue(requestFile.toFile(), request);
        Path script = SCRIPT_DIR.resolve("reference.mjs").toAbsolutePath();
        Process p = new ProcessBuilder("node", script.toString(), requestFile.toAbsolutePath().toString())
                .directory(SCRIPT_DIR.toFile()).start();
        // stderr is drained on its own thread so a chatty llama.cpp cannot block the process while stdout is read
        CompletableFuture<String> stderr = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "(stderr unreadable: " + e + ")";
            }
        });
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "reference.mjs ends"); // its output was read to the end above
        String errors = stderr.join();
        assertEquals(0, p.exitValue(), "reference.mjs failed (request " + requestFile + "):\n" + errors);
        return parse(JSON.readTree(stdout), models.size());
    }

    private static Answer parse(JsonNode root, int expectedModels) {
        JsonNode info = root.get("llamaCpp");
        String build = "node-llama-cpp " + info.path("nodeLlamaCpp").asText() + ", llama.cpp " + info.path("release").asText() + " (" + info.path("buildType").asText() + ", "
                + info.path("threads").asInt() + " thread(s)) " + info.path("systemInfo").asText().trim();
        List<ModelAnswer> models = new ArrayList<>();
        for (JsonNode m : root.get("models")) {
            int vocab = m.get("vocab").asInt();
            List<Greedy> prompts = new ArrayList<>();
            for (JsonNode g : m.get("prompts")) {
                List<double[]> logprobs = new ArrayList<>();
                for (JsonNode step : g.get("logprobs")) {
                    double[] v = new double[vocab];
                    for (int i = 0; i < vocab; i++) {
                        JsonNode x = step.get(i);
                        v[i] = x == null || x.isNull() ? Double.NEGATIVE_INFINITY : x.asDouble(); // null: softmax underflow
                    }
                    logprobs.add(v);
                }
                prompts.add(new Greedy(ints(g.get("prompt")), ints(g.get("tokens")), logprobs));
            }
            List<Tokenized> texts = new ArrayList<>();
            for (JsonNode t : m.get("texts")) {
                texts.add(new Tokenized(t.get("text").asText(), ints(t.get("tokens")), ints(t.get("tokensParsingSpecial"))));
            }
            models.add(new ModelAnswer(m.get("name").asText(), vocab, prompts, texts));
        }
        assertEquals(expectedModels, models.size(), "reference.mjs answered for every model");
        return new Answer(build, models);
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }

    private static String nodeVersion() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.waitFor() == 0 ? v : null;
        } catch (IOException | InterruptedException e) {
            return null;
        }
    }
}
