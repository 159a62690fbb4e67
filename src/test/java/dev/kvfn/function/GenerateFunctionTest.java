package dev.kvfn.function;

import dev.kvfn.engine.Engine;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.notNullValue;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** {@code generate} over plain HTTP and CloudEvents, on the built-in synthetic model (no model configured). */
@QuarkusTest
class GenerateFunctionTest {

    @Inject
    Engine engine;

    private static Response post(String body) {
        return given().contentType(ContentType.JSON).body(body).when().post("/generate");
    }

    @Test
    void completesAPromptWithTokensAndTimings() {
        post("{\"prompt\": \"Hello world\", \"maxTokens\": 8}").then()
                .statusCode(200)
                .body("text", notNullValue())
                .body("tokens.size()", equalTo(8))
                .body("completionTokens", equalTo(8))
                .body("promptTokens", greaterThan(1))
                .body("finishReason", equalTo("length"))
                .body("ttftMillis", greaterThanOrEqualTo(0f))
                .body("decodeTokensPerSecond", greaterThan(0f));
    }

    @Test
    void greedyHttpAnswerEqualsTheEngineCalledDirectly() throws Exception {
        int[] viaHttp = post("{\"prompt\": \"The quick brown fox\", \"maxTokens\": 12, \"temperature\": 0}")
                .then().statusCode(200).extract().as(GenerateOutput.class).tokens();
        int[] prompt = engine.tokenizer().encode("The quick brown fox");
        GenerationResult direct = engine.submit(new GenerationRequest(prompt, 12, SamplingParams.GREEDY), TokenSink.NONE)
                .result().get(60, TimeUnit.SECONDS);
        assertArrayEquals(direct.tokens(), viaHttp);
        assertEquals(direct.text(), engine.tokenizer().decode(viaHttp));
    }

    @Test
    void seededSamplingIsReproducible() {
        String body = "{\"prompt\": \"Once\", \"maxTokens\": 10, \"temperature\": 1.0, \"topK\": 40, \"topP\": 0.9, \"seed\": 7}";
        int[] a = post(body).then().statusCode(200).extract().as(GenerateOutput.class).tokens();
        int[] b = post(body).then().statusCode(200).extract().as(GenerateOutput.class).tokens();
        assertArrayEquals(a, b);
    }

    @Test
    void badInputIsA400WithAMessage() {
        record Case(String body, String message) {}
        int context = engine.model().contextLength();
        String longPrompt = "word ".repeat(context * 2);
        for (Case c : List.of(
                new Case("{not json", "malformed"),
                new Case("{}", "prompt"),
                new Case("{\"prompt\": \"\"}", "prompt"),
                new Case("{\"prompt\": \"hi\", \"maxTokens\": -1}", "maxTokens"),
                new Case("{\"prompt\": \"hi\", \"maxTokens\": 0}", "maxTokens"),
                new Case("{\"prompt\": \"hi\", \"maxTokens\": 2000000000}", "maxTokens"),
                new Case("{\"prompt\": \"" + longPrompt + "\"}", "context"),
                new Case("{\"prompt\": \"hi\", \"temperature\": -1}", "temperature"),
                new Case("{\"prompt\": \"hi\", \"topP\": -0.1}", "topP"),
                new Case("{\"prompt\": \"hi\", \"topP\": 1.5}", "topP"),
                new Case("{\"prompt\": \"hi\", \"stop\": [\"\"]}", "stop"),
                new Case("{\"prompt\": \"hi\", \"maxTokens\": \"many\"}", "malformed"))) {
            post(c.body()).then()
                    .statusCode(400)
                    .contentType(ContentType.JSON)
                    .body("error.message", containsString(c.message()))
                    .body("error.code", equalTo(400));
        }
    }

    @Test
    void stopStringEndsTheCompletionAndIsNotReturned() {
        GenerateOutput free = post("{\"prompt\": \"Hello\", \"maxTokens\": 24}").then().statusCode(200)
                .extract().as(GenerateOutput.class);
        // pick a stop string from the middle of the greedy completion: the stopped text must be its prefix
        String text = free.text();
        org.junit.jupiter.api.Assumptions.assumeTrue(text.length() >= 6, "completion too short to cut: " + text);
        String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
        GenerateOutput stopped = post("{\"prompt\": \"Hello\", \"maxTokens\": 24, \"stop\": [\"" + escape(stop) + "\"]}")
                .then().statusCode(200).extract().as(GenerateOutput.class);
        assertEquals("stop", stopped.finishReason());
        assertEquals(text.substring(0, text.indexOf(stop)), stopped.text());
    }

    @Test
    void binaryCloudEvent() {
        given().contentType(ContentType.JSON)
                .header("ce-id", "42").header("ce-specversion", "1.0")
                .header("ce-type", "dev.kvfn.generate").header("ce-source", "test")
                .body("{\"prompt\": \"Hello\", \"maxTokens\": 4}")
                .post("/")
                .then().statusCode(200)
                .header("ce-type", "dev.kvfn.generate.result")
                .body("completionTokens", equalTo(4));
    }

    @Test
    void structuredCloudEvent() {
        given().contentType("application/cloudevents+json")
                .body("{\"id\": \"43\", \"specversion\": \"1.0\", \"type\": \"dev.kvfn.generate\", \"source\": \"test\","
                        + " \"datacontenttype\": \"application/json\", \"data\": {\"prompt\": \"Hello\", \"maxTokens\": 3}}")
                .post("/")
                .then().statusCode(200)
                .body("type", equalTo("dev.kvfn.generate.result"))
                .body("data.completionTokens", equalTo(3));
    }

    @Test
    void invalidCloudEventDataIsA400NotARetryLoop() {
        given().contentType(ContentType.JSON)
                .header("ce-id", "44").header("ce-specversion", "1.0")
                .header("ce-type", "dev.kvfn.generate").header("ce-source", "test")
                .body("{\"prompt\": \"\"}")
                .post("/")
                .then().statusCode(400).body("error.message", containsString("prompt"));
    }

    @Test
    void tokenizeCountsWhatGenerateCountsAsThePrompt() {
        int promptTokens = post("{\"prompt\": \"Hello world\", \"maxTokens\": 1}").then().statusCode(200)
                .extract().path("promptTokens");
        given().contentType(ContentType.JSON).body("{\"text\": \"Hello world\"}").post("/tokenize").then()
                .statusCode(200)
                .body("count", equalTo(promptTokens))
                .body("tokens[0]", equalTo(engine.tokenizer().bos()));
        given().contentType(ContentType.JSON).body("{\"text\": \"Hello world\", \"addSpecial\": false}").post("/tokenize")
                .then().statusCode(200).body("count", equalTo(promptTokens - 1));
        given().contentType(ContentType.JSON).body("{}").post("/tokenize").then()
                .statusCode(400).body("error.message", containsString("text"));
        given().contentType(ContentType.JSON)
                .header("ce-id", "45").header("ce-specversion", "1.0")
                .header("ce-type", "dev.kvfn.tokenize").header("ce-source", "test")
                .body("{\"text\": \"Hello world\"}")
                .post("/")
                .then().statusCode(200)
                .header("ce-type", "dev.kvfn.tokenize.result")
                .body("count", equalTo(promptTokens));
    }

    @Test
    void readyAndLiveOnceTheModelIsLoaded() {
        Management.request().get("/q/health/ready").then().statusCode(200)
                .body("status", equalTo("UP"))
                .body("checks.find { it.name == 'kvfn-engine' }.data.model", equalTo(engine.model().name()));
        Management.request().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
    }

    static double metric(String text, String name) {
        return text.lines().filter(l -> l.startsWith(name + "{") || l.startsWith(name + " "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @Test
    void metricsArePublishedAndMove() {
        String before = Management.request().get("/q/metrics").then().statusCode(200).extract().asString();
        post("{\"prompt\": \"Hello\", \"maxTokens\": 5}").then().statusCode(200);
        String after = Management.request().get("/q/metrics").then().statusCode(200).extract().asString();
        assertEquals(1, metric(after, "kvfn_requests_total") - metric(before, "kvfn_requests_total"), 1e-9);
        assertEquals(5, metric(after, "kvfn_completion_tokens_total") - metric(before, "kvfn_completion_tokens_total"), 1e-9);
        assertEquals(1, metric(after, "kvfn_time_to_first_token_seconds_count") - metric(before, "kvfn_time_to_first_token_seconds_count"), 1e-9);
        assertEquals(1, metric(after, "kvfn_time_per_output_token_seconds_count") - metric(before, "kvfn_time_per_output_token_seconds_count"), 1e-9);
        for (String name : List.of("kvfn_prompt_tokens_total", "kvfn_cached_tokens_total", "kvfn_requests_in_flight",
                "kvfn_time_to_first_token_seconds_bucket", "kvfn_prompt_length_tokens_count")) {
            assertTrue(after.contains(name), name + " missing from /q/metrics");
        }
    }

    /** Bound after start-up by JvmMetrics (Quarkus's own binders are off): polled until there, as a scrape would see them. */
    @Test
    void jvmAndProcessMetricsArePublished() throws InterruptedException {
        List<String> names = List.of("jvm_memory_used_bytes", "jvm_gc_pause_seconds", "jvm_threads_live_threads",
                "jvm_classes_loaded_classes", "jvm_gc_overhead", "system_cpu_count", "process_cpu_usage",
                "process_uptime_seconds", "process_files_open_files");
        long giveUp = System.nanoTime() + TimeUnit.MINUTES.toNanos(5); // only so that a missing binder fails, not hangs
        String metrics;
        do {
            metrics = Management.request().get("/q/metrics").then().statusCode(200).extract().asString();
            if (names.stream().allMatch(metrics::contains)) return;
            Thread.sleep(50); // the binding thread runs once, right after start-up
        } while (System.nanoTime() < giveUp);
        String seen = metrics;
        fail("missing from /q/metrics: " + names.stream().filter(n -> !seen.contains(n)).toList());
    }

    @Test
    void aRepeatedPromptIsServedFromThePoolAndTheKvMetricsShowIt() {
        String prompt = "The quick brown fox jumps over the lazy dog and keeps running through the field until night falls. ".repeat(3);
        String body = "{\"prompt\": \"" + prompt + "\", \"maxTokens\": 3, \"cacheSalt\": \"metrics-test-" + java.util.UUID.randomUUID() + "\"}";
        String before = Management.request().get("/q/metrics").then().statusCode(200).extract().asString();
        int first = post(body).then().statusCode(200).extract().path("cachedTokens");
        int promptTokens = post(body).then().statusCode(200).extract().path("promptTokens");
        int second = post(body).then().statusCode(200).extract().path("cachedTokens");
        String after = Management.request().get("/q/metrics").then().statusCode(200).extract().asString();
        assertEquals(0, first);
        assertTrue(second > 0 && second < promptTokens, second + " of " + promptTokens + " prompt tokens cached");
        assertTrue(metric(after, "kvfn_cached_tokens_total") - metric(before, "kvfn_cached_tokens_total") >= 2 * second);
        assertTrue(metric(after, "kvfn_scheduler_steps_total") > metric(before, "kvfn_scheduler_steps_total"));
        assertTrue(after.lines().anyMatch(l -> l.startsWith("kvfn_kv_blocks{") && l.contains("state=\"cached\"")
                && Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)) > 0), "cached blocks are counted");
        for (String name : List.of("kvfn_kv_blocks", "kvfn_kv_block_bytes", "kvfn_kv_evictions_total", "kvfn_scheduler_waiting",
                "kvfn_scheduler_running", "kvfn_scheduler_preemptions_total")) {
            assertTrue(after.contains(name), name + " missing from /q/metrics");
        }
    }

    /** The probe of {@link CacheHitPrivacyTest} under the test profile's {@code kvfn.kv.report-cached-tokens=always}. */
    @Test
    void withReportAlwaysAnUnsaltedRequestSeesAnotherUsersBlock() {
        String shared = java.util.UUID.randomUUID().toString();
        post("{\"prompt\": \"" + CacheHitPrivacyTest.prompt(shared, "victim") + "\", \"maxTokens\": 1}").then().statusCode(200);
        int cached = post("{\"prompt\": \"" + CacheHitPrivacyTest.prompt(shared, "probe") + "\", \"maxTokens\": 1}").then()
                .statusCode(200).body("ttftMillis", greaterThanOrEqualTo(0f)).extract().path("cachedTokens");
        assertTrue(cached >= 16, "the shared first block is reported: " + cached);
    }

    @Test
    void hugeInputsAreRefusedAt400() {
        // a 999 999-character prompt (under max-prompt-chars) cannot fit a 256-token context: refused untokenized
        post("{\"prompt\": \"" + "a".repeat(999_999) + "\"}").then().statusCode(400)
                .body("error.message", containsString("999999 characters: more than the model's context"));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"" + "a".repeat(999_999) + "\", \"max_tokens\": 1}")
                .post("/v1/completions").then().statusCode(400).body("error.param", equalTo("prompt"));
        given().contentType(ContentType.JSON).body("{\"text\": \"" + "a".repeat(1_000_001) + "\"}").post("/tokenize").then()
                .statusCode(400).body("error.message", containsString("kvfn.limits.max-prompt-chars"));
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
