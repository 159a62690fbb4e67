package dev.kvfn.function;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged app ({@code target/kvfn}) as a process, as Knative runs it: SIGTERM while a request
 * is running lets that request finish (new ones are refused), the process exits within the grace
 * period, and the host store it leaves behind makes the next process warm — the same prompt comes
 * back with cachedTokens > 0 and the same tokens.
 */
class ShutdownIT {
    @TempDir
    Path hostStore;

    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final String PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
            + "One day, she saw a big, red ball.";

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    Process start(int port, Path log) throws Exception {
        Path models = Path.of(System.getProperty("kvfn.shared.models"));
        var pb = new ProcessBuilder(List.of(System.getProperty("kvfn.launcher")))
                .redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.put("JAVA_HOME", System.getProperty("java.home.for.app", System.getProperty("java.home")));
        env.put("KVFN_MODEL_PATH", models.resolve("stories260K.bin").toString());
        env.put("KVFN_MODEL_TOKENIZER", models.resolve("tok512.bin").toString());
        env.put("KVFN_KV_HOST_STORE_PATH", hostStore.toString());
        env.put("KVFN_KV_HOST_STORE_BYTES", "64M");
        env.put("KVFN_ENGINE_THREADS", "1");
        env.put("QUARKUS_HTTP_PORT", Integer.toString(port));
        env.put("QUARKUS_SHUTDOWN_TIMEOUT", "20s");
        Process p = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            try {
                var r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) return p;
            } catch (IOException notYet) {
                // still starting
            }
            if (!p.isAlive()) throw new AssertionError("kvfn exited during start-up:\n" + Files.readString(log));
            Thread.sleep(100);
        }
        p.destroyForcibly();
        throw new AssertionError("kvfn did not become ready:\n" + Files.readString(log));
    }

    static HttpResponse<String> generate(int port, int maxTokens) throws Exception {
        String body = "{\"prompt\": \"" + PROMPT + "\", \"maxTokens\": " + maxTokens + "}";
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/generate"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static int intField(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":(\\d+)").matcher(json);
        assertTrue(m.find(), name + " in " + json);
        return Integer.parseInt(m.group(1));
    }

    static String tokens(String json) {
        Matcher m = Pattern.compile("\"tokens\":\\[([^]]*)]").matcher(json);
        assertTrue(m.find(), json);
        return m.group(1);
    }

    @Test
    void sigtermFinishesTheRunningRequestAndTheNextProcessStartsWarm() throws Exception {
        int port = freePort();
        Path logA = hostStore.resolveSibling(hostStore.getFileName() + "-a.log");
        Process a = start(port, logA);
        String first;
        try {
            first = generate(port, 40).body();
            assertEquals(0, intField(first, "cachedTokens"), first);
            // a long request in flight when SIGTERM arrives (400 tokens of stories260K on one thread)
            CompletableFuture<HttpResponse<String>> running = CompletableFuture.supplyAsync(() -> {
                try {
                    return generate(port, 400);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(30);
            a.destroy(); // SIGTERM
            // admission stops: once shutdown has begun, new requests are refused (503), or find the port closed
            boolean refused = false;
            for (int i = 0; i < 200 && !refused; i++) {
                try {
                    HttpResponse<String> late = generate(port, 1);
                    refused = late.statusCode() == 503;
                    if (!refused) assertEquals(200, late.statusCode(), late.body());
                } catch (IOException closed) {
                    refused = true;
                }
                if (!refused) Thread.sleep(25);
            }
            assertTrue(refused, "new requests are refused after SIGTERM");
            HttpResponse<String> r = running.get(30, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode(), "the running request finished: " + r.body());
            assertTrue(a.waitFor(30, TimeUnit.SECONDS), "exited within the grace period");
            assertTrue(a.exitValue() == 0 || a.exitValue() == 143, "exit code " + a.exitValue());
        } finally {
            a.destroyForcibly();
        }
        String logText = Files.readString(logA);
        assertTrue(logText.contains("KV host store"), logText);

        Path logB = hostStore.resolveSibling(hostStore.getFileName() + "-b.log");
        Process b = start(port, logB);
        try {
            String again = generate(port, 40).body();
            assertTrue(intField(again, "cachedTokens") > 0, "process B restored A's blocks: " + again);
            assertEquals(tokens(first), tokens(again), "same greedy tokens after the restart");
            assertTrue(Files.readString(logB).contains("attached"), "B attached to A's host store");
        } finally {
            b.destroy();
            b.waitFor(30, TimeUnit.SECONDS);
            b.destroyForcibly();
        }
    }
}
