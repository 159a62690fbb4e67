package dev.kvfn.coldstart;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One kvfn process started through its launcher, timed from just before the fork: readiness, a streamed request's
 * first token, peak RSS, and a SIGTERM that waits for the exit (which is when the JVM writes an AOT cache). JDK classes
 * only, so the cold-start tools run with {@code -cp target/test-classes} and nothing else.
 */
final class AppProcess implements AutoCloseable {
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final Process process;
    final long startNanos;
    final int port;
    final int managementPort;
    final Path log;

    private AppProcess(Process process, long startNanos, int port, int managementPort, Path log) {
        this.process = process;
        this.startNanos = startNanos;
        this.port = port;
        this.managementPort = managementPort;
        this.log = log;
    }

    /** Starts {@code launcher} with {@code env} added to this process's environment, on free ports. */
    static AppProcess start(Path launcher, Map<String, String> env, Path log) throws IOException {
        int port = freePort();
        int management = freePort();
        var pb = new ProcessBuilder(List.of(launcher.toString())).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        pb.environment().put("QUARKUS_HTTP_PORT", Integer.toString(port));
        pb.environment().put("QUARKUS_MANAGEMENT_PORT", Integer.toString(management));
        long start = System.nanoTime();
        return new AppProcess(pb.start(), start, port, management, log);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Milliseconds since the fork. */
    double sinceStartMillis() {
        return (System.nanoTime() - startNanos) / 1e6;
    }

    /** Polls readiness every 5 ms; returns the milliseconds from the fork to the first 200. */
    double awaitReady(Duration limit) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + "/q/health/ready"))
                .timeout(Duration.ofSeconds(5)).build();
        while (System.nanoTime() < deadline) {
            try {
                if (HTTP.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) return sinceStartMillis();
            } catch (IOException notYet) {
                // not listening yet
            }
            if (!process.isAlive()) throw new IllegalStateException("kvfn exited during start-up:\n" + Files.readString(log));
            Thread.sleep(5);
        }
        throw new IllegalStateException("kvfn not ready after " + limit + ":\n" + Files.readString(log));
    }

    /** POSTs {@code body} (JSON) to {@code path}; the answer's body, or an exception naming the status. */
    String post(String path, String body) throws IOException, InterruptedException {
        var r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new IllegalStateException(path + " answered " + r.statusCode() + ": " + r.body());
        return r.body();
    }

    String get(String path, boolean management) throws IOException, InterruptedException {
        var r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + (management ? managementPort : port) + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new IllegalStateException(path + " answered " + r.statusCode() + ": " + r.body());
        return r.body();
    }

    /**
     * Streams {@code POST /v1/completions} for {@code prompt} (greedy, {@code maxTokens}); returns the milliseconds
     * from the fork to the first SSE event carrying text, after reading the whole stream.
     */
    double firstTokenMillis(String prompt, int maxTokens) throws IOException, InterruptedException {
        String body = "{\"prompt\": " + json(prompt) + ", \"max_tokens\": " + maxTokens + ", \"temperature\": 0, \"stream\": true}";
        var r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        double first = -1;
        StringBuilder all = new StringBuilder();
        try (var in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                all.append(line).append('\n');
                if (first < 0 && line.startsWith("data:") && line.contains("\"text\"")) first = sinceStartMillis();
            }
        }
        if (r.statusCode() != 200 || first < 0) throw new IllegalStateException("no token streamed (" + r.statusCode() + "): " + all);
        return first;
    }

    /** The process's peak resident set (VmHWM), in MiB; the launcher execs the JVM, so this is the JVM's. */
    double peakRssMiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
            if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
        throw new IllegalStateException("no VmHWM for pid " + process.pid());
    }

    /** SIGTERM, then waits for the exit (the host store flush; the AOT cache assembly of a training run). */
    int stop(Duration limit) throws InterruptedException, IOException {
        process.destroy();
        if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException("kvfn did not exit within " + limit + " of SIGTERM:\n" + Files.readString(log));
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        if (process.isAlive()) process.destroyForcibly();
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    /** An integer field of a flat JSON answer. */
    static int intField(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*(\\d+)").matcher(json);
        if (!m.find()) throw new IllegalStateException("no " + name + " in " + json);
        return Integer.parseInt(m.group(1));
    }

    static void requireExists(Path p, String what) {
        if (!Files.exists(p)) throw new UncheckedIOException(new IOException(what + " not found: " + p));
    }
}
