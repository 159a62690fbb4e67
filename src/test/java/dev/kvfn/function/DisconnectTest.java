package dev.kvfn.function;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A streaming client that goes away cancels its generation: on a model slow enough (llama-135m shape) that 2000
 * tokens would take many seconds, the request leaves the engine right after the socket closes. The same for the Funqy
 * {@code generate}, which answers only at the end.
 */
@QuarkusTest
@TestProfile(DisconnectTest.SlowModel.class)
class DisconnectTest {

    /** A model slow enough on 2 cores (~100-200 tokens/s) that a long completion outlasts what a test watches. */
    static synchronized Path slowModel() {
        try {
            if (slowModel == null) {
                Path file = Files.createTempDirectory("kvfn-slow").resolve("llama-135m-Q4_0.gguf");
                SyntheticModel.write(SyntheticModel.Shape.byName("llama-135m"), GgmlType.Q4_0, 3, file);
                file.toFile().deleteOnExit();
                file.getParent().toFile().deleteOnExit();
                slowModel = file;
            }
            return slowModel;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path slowModel;

    public static class SlowModel implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("kvfn.model.path", slowModel().toString(),
                    "quarkus.log.category.\"dev.kvfn.function.openai\".level", "DEBUG");
        }
    }

    @TestHTTPResource("/")
    URL base;

    static double metric(String name) {
        return GenerateFunctionTest.metric(Management.request().get("/q/metrics").then().statusCode(200).extract().asString(), name);
    }

    /** What the app logged while a test ran (the JBoss log manager is the JUL manager in tests). */
    static final class Captured extends Handler {
        final java.util.concurrent.LinkedBlockingQueue<LogRecord> records = new java.util.concurrent.LinkedBlockingQueue<>();

        @Override public void publish(LogRecord r) { records.add(r); }
        @Override public void flush() {}
        @Override public void close() {}
    }

    @Test
    void closingTheStreamCancelsTheGeneration() throws Exception {
        var log = new Captured();
        Logger.getLogger("").addHandler(log);
        try {
            closeTheStream();
            // the writer finds the client gone: one line, below WARN, no stack trace, and no ERROR from anyone
            LogRecord gone = null;
            java.util.List<LogRecord> seen = new java.util.ArrayList<>();
            while (gone == null) {
                LogRecord r = log.records.poll(60, java.util.concurrent.TimeUnit.SECONDS); // bound only: the write follows the cancel
                assertTrue(r != null, "the stream's writer reported the disconnect: " + seen);
                seen.add(r);
                if (String.valueOf(r.getMessage()).contains("client went away")) gone = r;
            }
            assertTrue(gone.getLevel().intValue() < Level.WARNING.intValue(), "logged at " + gone.getLevel());
            assertEquals(null, gone.getThrown(), "no stack trace");
            log.records.drainTo(seen);
            for (LogRecord r : seen) {
                assertTrue(r.getLevel().intValue() < Level.WARNING.intValue(),
                        "a disconnect is routine, nothing at WARN or ERROR: " + r.getLevel() + " " + r.getLoggerName() + " " + r.getMessage());
            }
        } finally {
            Logger.getLogger("").removeHandler(log);
        }
    }

    void closeTheStream() throws Exception {
        double cancelledBefore = metric("kvfn_requests_cancelled_total");
        String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2000, \"temperature\": 0, \"stream\": true}";
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null && !line.startsWith("data: ")) {
                // headers, chunk sizes
            }
            assertTrue(line != null && line.startsWith("data: {"), "first event arrives before we hang up: " + line);
            assertEquals(1.0, metric("kvfn_requests_in_flight"), "the generation is running");
            assertTrue(referencedBlocks() > 0, "the running sequence holds KV blocks");
        }
        long deadline = System.nanoTime() + 600_000_000_000L; // a hang guard only
        while (metric("kvfn_requests_in_flight") > 0 && System.nanoTime() < deadline) Thread.sleep(50);
        assertEquals(0.0, metric("kvfn_requests_in_flight"), "the generation left the engine");
        assertEquals(1.0, metric("kvfn_requests_cancelled_total") - cancelledBefore, "it ended as cancelled, not by running out");
        assertEquals(0.0, referencedBlocks(), "its KV blocks were freed");
    }

    /**
     * Over HTTP/2 a client that resets its stream (the JDK {@code HttpClient} sends RST_STREAM when the body
     * subscription is cancelled, here by closing the body's InputStream) cancels the generation; the connection
     * itself stays open, so only the stream's reset can tell.
     */
    @Test
    void resettingAnHttp2StreamCancelsTheGeneration() throws Exception {
        double cancelledBefore = metric("kvfn_requests_cancelled_total");
        try (java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder()
                .version(java.net.http.HttpClient.Version.HTTP_2).build()) {
            // the h2c upgrade happens on this first request; the stream below then goes over the HTTP/2 connection
            var models = client.send(java.net.http.HttpRequest.newBuilder(base.toURI().resolve("/v1/models")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(java.net.http.HttpClient.Version.HTTP_2, models.version(), "the connection is HTTP/2");
            String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2000, \"temperature\": 0, \"stream\": true}";
            var response = client.send(java.net.http.HttpRequest.newBuilder(base.toURI().resolve("/v1/completions"))
                            .header("Content-Type", "application/json")
                            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, response.statusCode());
            assertEquals(java.net.http.HttpClient.Version.HTTP_2, response.version(), "the stream is HTTP/2");
            try (var in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null && !line.startsWith("data: ")) {
                    // nothing before the first event
                }
                assertTrue(line != null && line.startsWith("data: {"), "first event arrives before we hang up: " + line);
                assertEquals(1.0, metric("kvfn_requests_in_flight"), "the generation is running");
            } // closing the body cancels the subscription: the client resets the stream, the connection stays
            long deadline = System.nanoTime() + 600_000_000_000L; // a hang guard only
            while (metric("kvfn_requests_in_flight") > 0 && System.nanoTime() < deadline) Thread.sleep(50);
            assertEquals(0.0, metric("kvfn_requests_in_flight"), "the generation left the engine");
            assertEquals(1.0, metric("kvfn_requests_cancelled_total") - cancelledBefore, "it ended as cancelled, not by running out");
            assertEquals(0.0, referencedBlocks(), "its KV blocks were freed");
        }
    }

    /**
     * A non-streamed request over HTTP/2 writes nothing until its generation ends, so only the stream's reset can
     * tell the client is gone: cancelling the JDK client's exchange resets the stream, which cancels the generation.
     */
    @Test
    void resettingAnHttp2StreamCancelsAWholeResponseGeneration() throws Exception {
        resetMidGeneration("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2000, \"temperature\": 0}");
    }

    /**
     * A stream whose text is held (a forced tool call is sent once complete) writes nothing either: the reset alone
     * must cancel it.
     */
    @Test
    void resettingAnHttp2StreamCancelsAHeldToolCallStream() throws Exception {
        resetMidGeneration("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Once upon a time\"}], "
                + "\"max_tokens\": 2000, \"temperature\": 0, \"stream\": true, \"tool_choice\": \"required\", \"tools\": "
                + "[{\"type\": \"function\", \"function\": {\"name\": \"tell\", \"parameters\": {\"type\": \"object\", "
                + "\"properties\": {\"story\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}, \"required\": [\"story\"]}}}]}");
    }

    /** Posts over an HTTP/2 connection, resets the stream once the sequence runs, and waits for the cancel. */
    void resetMidGeneration(String path, String body) throws Exception {
        double cancelledBefore = metric("kvfn_requests_cancelled_total");
        try (java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder()
                .version(java.net.http.HttpClient.Version.HTTP_2).build()) {
            var models = client.send(java.net.http.HttpRequest.newBuilder(base.toURI().resolve("/v1/models")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(java.net.http.HttpClient.Version.HTTP_2, models.version(), "the connection is HTTP/2");
            var pending = client.sendAsync(java.net.http.HttpRequest.newBuilder(base.toURI().resolve(path))
                            .header("Content-Type", "application/json")
                            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            while (referencedBlocks() == 0 && !pending.isDone()) Thread.sleep(20); // wait until the sequence runs
            assertFalse(pending.isDone(), "the request is still running: " + (pending.isDone() ? pending.join().body() : ""));
            assertEquals(1.0, metric("kvfn_requests_in_flight"), "the generation is running");
            pending.cancel(true); // the JDK client resets the stream (RST_STREAM CANCEL); the connection stays
            long deadline = System.nanoTime() + 600_000_000_000L; // a hang guard only
            while (metric("kvfn_requests_in_flight") > 0 && System.nanoTime() < deadline) Thread.sleep(50);
            assertEquals(0.0, metric("kvfn_requests_in_flight"), "the generation left the engine");
            assertEquals(1.0, metric("kvfn_requests_cancelled_total") - cancelledBefore, "it ended as cancelled, not by running out");
            assertEquals(0.0, referencedBlocks(), "its KV blocks were freed");
        }
    }

    @Test
    void closingTheConnectionCancelsAFunqyGenerate() throws Exception {
        double cancelledBefore = metric("kvfn_requests_cancelled_total");
        String body = "{\"prompt\": \"Once upon a time\", \"maxTokens\": 2000, \"temperature\": 0}";
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            long deadline = System.nanoTime() + 600_000_000_000L; // a hang guard only: waits for the state
            while (referencedBlocks() == 0 && System.nanoTime() < deadline) Thread.sleep(20);
            assertEquals(1.0, metric("kvfn_requests_in_flight"), "the generation is running");
        }
        long deadline = System.nanoTime() + 600_000_000_000L;
        while (metric("kvfn_requests_in_flight") > 0 && System.nanoTime() < deadline) Thread.sleep(50);
        assertEquals(1.0, metric("kvfn_requests_cancelled_total") - cancelledBefore, "it ended as cancelled, not by running out");
        assertEquals(0.0, referencedBlocks(), "its KV blocks were freed");
    }

    /** kvfn_kv_blocks{tier="pool",state="referenced"}: blocks held by running sequences. */
    static double referencedBlocks() {
        String text = Management.request().get("/q/metrics").then().statusCode(200).extract().asString();
        return text.lines().filter(l -> l.startsWith("kvfn_kv_blocks{") && l.contains("state=\"referenced\"") && l.contains("tier=\"pool\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }
}
