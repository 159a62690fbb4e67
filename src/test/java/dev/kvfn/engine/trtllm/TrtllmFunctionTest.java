package dev.kvfn.engine.trtllm;

import dev.kvfn.engine.Engine;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.quarkus.test.common.http.TestHTTPResource;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Map;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole app with {@code kvfn.engine=trtllm} over the test double: the OpenAI API and the Funqy functions answer
 * exactly as on the CPU engine, with the executor's tokens; a native failure is a clean 500 carrying the native
 * message; the executor's full queue is a 429 with Retry-After.
 */
@QuarkusTest
@TestProfile(TrtllmFunctionTest.OnTheFake.class)
@Timeout(300)
class TrtllmFunctionTest {
    static final String POISON = "zebra", HOLD = "walrus", RELEASE = "kettle";

    public static class OnTheFake implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try (GgufFile gguf = GgufFile.open(SyntheticModel.tinyTempFile())) {
                Tokenizer t = Tokenizers.fromGguf(gguf);
                return Map.of("kvfn.engine", "trtllm",
                        "kvfn.trtllm.engine-dir", FakeTrtllm.engineDir("error_token=" + marker(t, POISON)
                                + ",hold_token=" + marker(t, HOLD) + ",release_token=" + marker(t, RELEASE)),
                        "kvfn.trtllm.vocabulary", SyntheticModel.tinyTempFile().toString(),
                        "kvfn.trtllm.context-length", "256",
                        "kvfn.trtllm.max-batch-size", "1",
                        "kvfn.trtllm.max-queue-size", "1");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** A token of the prompt "Hello {@code word}" that no other prompt here (chat ones included) contains. */
    static int marker(Tokenizer t, String word) {
        String others = "Hello world, once upon a time <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
        int[] w = t.encode("Hello " + word);
        for (int i = w.length - 1; i >= 0; i--) {
            int id = w[i];
            boolean elsewhere = Arrays.stream(t.encode(others)).anyMatch(p -> p == id);
            for (String other : new String[]{POISON, HOLD, RELEASE}) {
                if (!other.equals(word)) elsewhere |= Arrays.stream(t.encode("Hello " + other)).anyMatch(p -> p == id);
            }
            if (!elsewhere) return id;
        }
        throw new AssertionError("no marker token in " + word);
    }

    @Inject
    Engine engine;

    String expected(String prompt, int n) {
        return engine.tokenizer().decode(FakeTrtllm.expected(engine.tokenizer().encode(prompt), n));
    }

    @Test
    void theEngineIsTheTrtllmOne() {
        given().get("/v1/models").then().statusCode(200).body("data[0].id", equalTo(engine.model().name()));
        assertEquals("trtllm", engine.model().architecture());
    }

    @Test
    void completionsCarryTheExecutorsTokens() {
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"Hello world\", \"max_tokens\": 8, \"temperature\": 0}")
                .post("/v1/completions").then().statusCode(200)
                .body("object", equalTo("text_completion"))
                .body("choices[0].text", equalTo(expected("Hello world", 8)))
                .body("choices[0].finish_reason", equalTo("length"))
                .body("usage.completion_tokens", equalTo(8));
    }

    @Test
    void theGenerateFunctionAnswersTheSame() {
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"Hello world\", \"maxTokens\": 8, \"temperature\": 0}")
                .post("/generate").then().statusCode(200)
                .body("text", equalTo(expected("Hello world", 8)));
    }

    @Test
    void aStreamedCompletionIsTheSameTextInSseChunks() {
        String body = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"once upon a time\", \"max_tokens\": 12, \"temperature\": 0, \"stream\": true}")
                .post("/v1/completions").then().statusCode(200)
                .contentType(containsString("text/event-stream")).extract().asString();
        assertTrue(body.endsWith("data: [DONE]\n\n"), body);
        StringBuilder text = new StringBuilder();
        for (String event : body.split("\n\n")) {
            String data = event.substring("data: ".length());
            if (data.equals("[DONE]")) continue;
            JsonPath j = JsonPath.from(data);
            String piece = j.getString("choices[0].text");
            if (piece != null) text.append(piece);
        }
        assertEquals(expected("once upon a time", 12), text.toString());
    }

    @Test
    void chatCompletionsAnswer() {
        given().contentType(ContentType.JSON)
                .body("{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 5, \"temperature\": 0}")
                .post("/v1/chat/completions").then().statusCode(200)
                .body("choices[0].message.role", equalTo("assistant"))
                .body("usage.completion_tokens", equalTo(5));
    }

    @Test
    void aNativeErrorIsACleanServerError() {
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"Hello " + POISON + "\", \"max_tokens\": 4}")
                .post("/v1/completions").then().statusCode(500)
                .body("error.message", containsString("is poisoned"));
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"Hello " + POISON + "\", \"maxTokens\": 4}")
                .post("/generate").then().statusCode(500)
                .body("error.message", containsString("is poisoned"));
    }

    @TestHTTPResource("/v1/completions")
    URI completions;

    @Test
    void aFullExecutorQueueIs429() throws Exception {
        var client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        var held = HttpRequest.newBuilder(completions).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Hello " + HOLD + "\", \"max_tokens\": 3, \"temperature\": 0}")).build();
        var a = client.sendAsync(held, HttpResponse.BodyHandlers.ofString());
        while (engine.stats().scheduler().running() < 1) { // a holds the executor's one batch slot
            if (a.isDone()) throw new AssertionError("the held request ended: " + a.join().body());
            Thread.sleep(1);
        }
        var b = client.sendAsync(held, HttpResponse.BodyHandlers.ofString());
        while (engine.stats().scheduler().waiting() < 1) { // b waits in its one queue place
            if (b.isDone()) throw new AssertionError("the queued request ended: " + b.join().body());
            Thread.sleep(1);
        }
        given().contentType(ContentType.JSON).body("{\"prompt\": \"Hello world\", \"max_tokens\": 3}")
                .post("/v1/completions").then().statusCode(429)
                .header("Retry-After", equalTo("1"))
                .body("error.message", containsString("queue"));
        // refused as well (the queue is still full), and it releases the held ones on its way
        assertTrue(Arrays.stream(engine.tokenizer().encode("Hello " + RELEASE)).anyMatch(t -> t == marker(engine.tokenizer(), RELEASE)));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"Hello " + RELEASE + "\", \"max_tokens\": 3}")
                .post("/v1/completions").then().statusCode(429);
        assertEquals(200, a.join().statusCode(), () -> a.join().body());
        assertEquals(200, b.join().statusCode(), () -> b.join().body());
    }
}
