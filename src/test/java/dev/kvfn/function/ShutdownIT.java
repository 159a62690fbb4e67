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

    // HTTP/1.1 as Knative's queue-proxy speaks to the container (the JDK client's h2c upgrade would meet the GOAWAY a
    // stopping server sends: requests never accepted, unanswered by design)
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    static final String PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
            + "One day, she saw a big, red ball.";

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Each started server's management port (health, metrics), by its public port. */
    static final Map<Integer, Integer> MANAGEMENT = new java.util.concurrent.ConcurrentHashMap<>();

    /** A URL on the management interface of the server listening on {@code port}. */
    static URI management(int port, String path) {
        return URI.create("http://127.0.0.1:" + MANAGEMENT.get(port) + path);
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
        env.put("KVFN_SCHEDULER_MAX_SEQS", "1");
        env.put("QUARKUS_HTTP_PORT", Integer.toString(port));
        int managementPort = MANAGEMENT.computeIfAbsent(port, p -> {
            try {
                return freePort();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        env.put("QUARKUS_MANAGEMENT_PORT", Integer.toString(managementPort));
        env.put("QUARKUS_SHUTDOWN_TIMEOUT", "20s");
        env.put("KVFN_KV_REPORT_CACHED_TOKENS", "always"); // the restart is proven by an unsalted request's cachedTokens
        Process p = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            try {
                var r = HTTP.send(HttpRequest.newBuilder(management(port, "/q/health/ready")).build(),
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
        return HTTP.send(generateRequest(port, maxTokens), HttpResponse.BodyHandlers.ofString());
    }

    static HttpRequest generateRequest(int port, int maxTokens) {
        String body = "{\"prompt\": \"" + PROMPT + "\", \"maxTokens\": " + maxTokens + "}";
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/generate"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    static HttpRequest completionsRequest(int port) {
        String body = "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 1}";
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    static double metric(int port, String name) throws Exception {
        String text = HTTP.send(HttpRequest.newBuilder(management(port, "/q/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        return GenerateFunctionTest.metric(text, name);
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
            // long requests in flight when SIGTERM arrives (450 tokens each of stories260K, one after another: max-seqs 1)
            List<CompletableFuture<HttpResponse<String>>> running = new java.util.ArrayList<>();
            var clients = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();
            for (int i = 0; i < 4; i++) {
                running.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return generate(port, 450);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, clients));
            }
            for (int i = 0; metric(port, "kvfn_requests_in_flight") < 4; i++) { // accepted before the signal
                assertTrue(i < 6000, "the long requests were not accepted");
                Thread.sleep(5);
            }
            a.destroy(); // SIGTERM
            // drain: readiness DOWN at once; a request every 100 ms (not waiting for each other) is answered 200 (sent
            // before the drain began) or 503 in the API's error shape, none accepted and cut; the server closes once
            // the running requests are done (then a request finds the port closed or its connection closed unanswered)
            boolean readyDown = false, gone = false;
            List<CompletableFuture<HttpResponse<String>>> late = new java.util.ArrayList<>();
            for (int i = 0; i < 600 && !gone; i++) { // bound only: the process exits once the running requests are done
                try {
                    var ready = HTTP.send(HttpRequest.newBuilder(management(port, "/q/health/ready")).build(),
                            HttpResponse.BodyHandlers.ofString());
                    readyDown |= ready.statusCode() == 503;
                    late.add(HTTP.sendAsync(i % 2 == 0 ? generateRequest(port, 1) : completionsRequest(port), HttpResponse.BodyHandlers.ofString()));
                    Thread.sleep(100);
                } catch (IOException closed) {
                    gone = true;
                }
            }
            assertTrue(gone, "the server stopped");
            assertTrue(readyDown, "readiness reported DOWN while the running requests finished");
            int refused = 0, served = 0;
            for (int i = 0; i < late.size(); i++) {
                HttpResponse<String> r;
                try {
                    r = late.get(i).get(30, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    assertTrue(e.getCause() instanceof IOException, "late request " + i + ": " + e.getCause());
                    continue; // sent while the server closed: never accepted
                }
                if (r.statusCode() == 200) {
                    served++;
                    continue;
                }
                assertEquals(503, r.statusCode(), "late request " + i + " is served or refused: " + r.body());
                assertTrue(r.body().contains("\"error\"") && r.body().contains("shutting down"), r.body());
                if (i % 2 == 1) assertTrue(r.body().contains("\"param\""), "OpenAI's error shape on /v1: " + r.body());
                refused++;
            }
            assertTrue(refused > 0, "new requests were refused (503) during the drain; served before it: " + served);
            for (var run : running) {
                HttpResponse<String> r = run.get(30, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), "the running request finished: " + r.body());
                assertTrue(!r.body().contains("cancelled"), "it ran to its end, not cut by the shutdown: " + r.body());
            }
            assertTrue(a.waitFor(30, TimeUnit.SECONDS), "exited within the grace period");
            assertTrue(a.exitValue() == 0 || a.exitValue() == 143, "exit code " + a.exitValue());
        } finally {
            a.destroyForcibly();
        }
        String logText = Files.readString(logA);
        assertTrue(logText.contains("KV host store"), logText);
        assertTrue(!logText.contains("Timed out waiting for graceful shutdown") && !logText.contains("requests still running"),
                "every accepted request was answered before the engine closed:\n" + logText);

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
