package dev.kvfn.bench.suite;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * kvfn served: the packaged app ({@code target/kvfn}) as its own process, asked over HTTP {@code POST /generate}.
 * Prefill is the prompt's length over the client's time for a one-token request (HTTP, JSON, tokenizing and
 * prefill); decode is the {@code decodeTokensPerSecond} the app reports.
 */
final class ServedPeer implements Peer {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process app;
    private final Path log;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final URI generate;

    ServedPeer(Path launcher, Path model, int threads, int contextLength, Path logDir) throws Exception {
        if (!Files.isExecutable(launcher)) {
            throw new IllegalStateException(launcher + " is missing: the served engine needs the packaged app "
                    + "(./mvnw -B -Pbench verify builds it; or ./mvnw package first)");
        }
        int port = freePort(), management = freePort();
        log = logDir.resolve("served-" + model.getFileName() + ".log");
        var pb = new ProcessBuilder(launcher.toAbsolutePath().toString()).redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.put("JAVA_HOME", System.getProperty("java.home"));
        env.put("KVFN_MODEL_PATH", model.toAbsolutePath().toString());
        env.put("KVFN_ENGINE_THREADS", Integer.toString(threads));
        env.put("KVFN_ENGINE_CONTEXT_LENGTH", Integer.toString(contextLength));
        env.put("KVFN_ENGINE_COMPUTE_NICE", "0"); // as the in-process engine: the comparison is of the serving path alone
        env.put("KVFN_KV_POOL_BYTES", "256M");
        env.put("KVFN_KV_HOST_STORE_ENABLED", "false");
        env.put("KVFN_KV_REPORT_CACHED_TOKENS", "always");
        env.put("KVFN_LIMITS_MAX_PROMPT_CHARS", "1000000");
        env.put("QUARKUS_HTTP_PORT", Integer.toString(port));
        env.put("QUARKUS_MANAGEMENT_PORT", Integer.toString(management));
        env.remove("QUARKUS_REDIS_HOSTS");
        app = pb.start();
        generate = URI.create("http://127.0.0.1:" + port + "/generate");
        awaitReady(URI.create("http://127.0.0.1:" + management + "/q/health/ready"));
    }

    @Override
    public String engine() {
        return SERVED;
    }

    @Override
    public double prefill(Prompt prompt) throws Exception {
        long t0 = System.nanoTime();
        JsonNode r = post(prompt.text(), 1);
        long nanos = System.nanoTime() - t0;
        if (r.path("promptTokens").asInt() != prompt.length()) {
            throw new IllegalStateException("the served app counted " + r.path("promptTokens") + " prompt tokens, expected " + prompt.length());
        }
        if (r.path("cachedTokens").asInt() != 0) throw new IllegalStateException("the served app found prompt tokens cached: " + r);
        return prompt.length() * 1e9 / nanos;
    }

    @Override
    public double decode(Prompt prompt, int tokens) throws Exception {
        JsonNode r = post(prompt.text(), tokens + 1);
        if (r.path("completionTokens").asInt() < 2) throw new IllegalStateException("the served app produced too few tokens: " + r);
        return r.path("decodeTokensPerSecond").asDouble();
    }

    private JsonNode post(String prompt, int maxTokens) throws Exception {
        ObjectNode body = JSON.createObjectNode().put("prompt", prompt).put("maxTokens", maxTokens).put("temperature", 0);
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(generate).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IllegalStateException("POST /generate answered " + response.statusCode() + ": " + response.body());
        }
        return JSON.readTree(response.body());
    }

    private void awaitReady(URI ready) throws Exception {
        while (true) {
            if (!app.isAlive()) {
                throw new IllegalStateException("the served app exited during start-up; its log " + log + ":\n" + tail(log));
            }
            try {
                var r = http.send(HttpRequest.newBuilder(ready).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) return;
            } catch (IOException notYet) {
                // still starting
            }
            Thread.sleep(200);
        }
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws Exception {
        app.destroy();
        if (!app.waitFor(60, TimeUnit.SECONDS)) app.destroyForcibly();
    }
}
