package dev.kvfn.function;

import dev.kvfn.engine.Engine;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.notNullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The OpenAI-compatible API on the built-in synthetic model (no chat template: the ChatML fallback). */
@QuarkusTest
class OpenAiResourceTest {

    @Inject
    Engine engine;

    static String greedyText(String prompt, int maxTokens) {
        return given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"" + prompt.replace("\n", "\\n") + "\", \"maxTokens\": " + maxTokens + ", \"temperature\": 0}")
                .post("/generate").then().statusCode(200).extract().path("text");
    }

    /** Splits an SSE body into its data payloads, checking the framing on the way. */
    static List<String> events(String body) {
        assertTrue(body.endsWith("data: [DONE]\n\n"), "stream must end with data: [DONE]: " + body);
        List<String> out = new ArrayList<>();
        for (String event : body.split("\n\n")) {
            assertTrue(event.startsWith("data: "), "every event is a data line: '" + event + "'");
            out.add(event.substring("data: ".length()));
        }
        return out;
    }

    @Test
    void modelsListsTheServedModel() {
        given().get("/v1/models").then().statusCode(200)
                .body("object", equalTo("list"))
                .body("data[0].id", equalTo(engine.model().name()))
                .body("data[0].object", equalTo("model"));
    }

    @Test
    void completionEqualsTheGenerateFunction() {
        String expected = greedyText("Hello world", 8);
        given().contentType(ContentType.JSON)
                .body("{\"model\": \"" + engine.model().name() + "\", \"prompt\": \"Hello world\", \"max_tokens\": 8, \"temperature\": 0}")
                .post("/v1/completions").then().statusCode(200)
                .body("object", equalTo("text_completion"))
                .body("choices[0].text", equalTo(expected))
                .body("choices[0].finish_reason", equalTo("length"))
                .body("usage.completion_tokens", equalTo(8))
                .body("usage.total_tokens", equalTo(8 + engine.tokenizer().encode("Hello world").length))
                .body("usage.prompt_tokens_details.cached_tokens", notNullValue());
    }

    @Test
    void streamedCompletionIsTheSameTextInSseChunks() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.kvfn.function.openai.OpenAiResource.onLambda(), "no streaming behind API Gateway");
        String expected = greedyText("Hello world", 12);
        String body = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"Hello world\", \"max_tokens\": 12, \"temperature\": 0, \"stream\": true,"
                        + " \"stream_options\": {\"include_usage\": true}}")
                .post("/v1/completions").then().statusCode(200)
                .contentType(containsString("text/event-stream")).extract().asString();
        List<String> events = events(body);
        StringBuilder text = new StringBuilder();
        String finish = null;
        Integer completionTokens = null;
        for (String e : events.subList(0, events.size() - 1)) {
            JsonPath j = JsonPath.from(e);
            assertEquals("text_completion", j.getString("object"));
            if (j.getList("choices").isEmpty()) {
                completionTokens = j.getInt("usage.completion_tokens");
                continue;
            }
            text.append(j.getString("choices[0].text"));
            if (j.getString("choices[0].finish_reason") != null) finish = j.getString("choices[0].finish_reason");
        }
        assertEquals(expected, text.toString());
        assertEquals("length", finish);
        assertEquals(12, completionTokens);
    }

    @Test
    void chatUsesTheTemplateAndStreamsDeltas() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.kvfn.function.openai.OpenAiResource.onLambda(), "no streaming behind API Gateway");
        String prompt = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
        String expected = greedyText(prompt, 10);
        String messages = "[{\"role\": \"user\", \"content\": \"Hi\"}]";
        given().contentType(ContentType.JSON)
                .body("{\"messages\": " + messages + ", \"max_tokens\": 10, \"temperature\": 0}")
                .post("/v1/chat/completions").then().statusCode(200)
                .body("object", equalTo("chat.completion"))
                .body("choices[0].message.role", equalTo("assistant"))
                .body("choices[0].message.content", equalTo(expected))
                .body("usage.completion_tokens", equalTo(10));
        String body = given().contentType(ContentType.JSON)
                .body("{\"messages\": " + messages + ", \"max_completion_tokens\": 10, \"temperature\": 0, \"stream\": true}")
                .post("/v1/chat/completions").then().statusCode(200).extract().asString();
        StringBuilder text = new StringBuilder();
        List<String> events = events(body);
        for (String e : events.subList(0, events.size() - 1)) {
            JsonPath j = JsonPath.from(e);
            assertEquals("chat.completion.chunk", j.getString("object"));
            String delta = j.getString("choices[0].delta.content");
            if (delta != null) text.append(delta);
        }
        assertEquals(expected, text.toString());
        assertEquals("length", JsonPath.from(events.get(events.size() - 2)).getString("choices[0].finish_reason"));
    }

    @Test
    void onLambdaStreamingIsRefusedNotHung() {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.kvfn.function.openai.OpenAiResource.onLambda(), "only in the lambda build");
        given().contentType(ContentType.JSON).body("{\"prompt\": \"hi\", \"stream\": true}").post("/v1/completions")
                .then().statusCode(400).body("error.message", containsString("Lambda"));
    }

    @Test
    void errorsHaveOpenAiShapeAndStatus() {
        record Case(String path, String body, int status, String message) {}
        String longPrompt = "word ".repeat(engine.model().contextLength() * 2);
        for (Case c : List.of(
                new Case("/v1/completions", "{not json", 400, "malformed"),
                new Case("/v1/completions", "{\"max_tokens\": 3}", 400, "prompt"),
                new Case("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": -1}", 400, "max_tokens"),
                new Case("/v1/completions", "{\"prompt\": \"hi\", \"n\": 2}", 400, "\"n\""),
                new Case("/v1/completions", "{\"prompt\": \"hi\", \"top_p\": 7}", 400, "top_p"),
                new Case("/v1/completions", "{\"prompt\": \"" + longPrompt + "\"}", 400, "context"),
                new Case("/v1/completions", "{\"model\": \"gpt-9\", \"prompt\": \"hi\"}", 404, "gpt-9"),
                new Case("/v1/chat/completions", "{\"messages\": []}", 400, "messages"),
                new Case("/v1/chat/completions", "{\"messages\": [{\"content\": \"x\"}]}", 400, "role"))) {
            given().contentType(ContentType.JSON).body(c.body()).post(c.path()).then()
                    .statusCode(c.status())
                    .contentType(ContentType.JSON)
                    .body("error.message", containsString(c.message()))
                    .body("error.type", notNullValue());
        }
    }
}
