package dev.kvfn.function;

import dev.kvfn.engine.Engine;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.ValidatableResponse;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasSize;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.nullValue;

/**
 * The wire details clients depend on, without a client library: content negotiation on every {@code /v1}
 * endpoint, {@code GET /v1/models/{id}}, OpenAI's value ranges and refusals naming the field, CloudEvents errors,
 * and readiness without Redis.
 */
@QuarkusTest
class OpenAiProtocolTest {

    @Inject
    Engine engine;

    static final String CHAT = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2%s}";
    static final String COMPLETION = "{\"prompt\": \"hi\", \"max_tokens\": 2%s}";

    /** Accept as clients send it: SSE alone (OpenAI Java SDK streaming), JSON, anything, or no header at all. */
    @ParameterizedTest
    @ValueSource(strings = {"text/event-stream", "application/json", "*/*", "application/json, text/event-stream"})
    void everyEndpointAnswersWhateverTheAcceptHeader(String accept) {
        withAccept(accept).get("/v1/models").then().statusCode(200).contentType(containsString("application/json"));
        withAccept(accept).get("/v1/models/" + engine.model().name()).then().statusCode(200)
                .contentType(containsString("application/json")).body("id", equalTo(engine.model().name()));
        withAccept(accept).contentType(ContentType.JSON).body(CHAT.formatted("")).post("/v1/chat/completions").then()
                .statusCode(200).contentType(containsString("application/json")).body("object", equalTo("chat.completion"));
        withAccept(accept).contentType(ContentType.JSON).body(COMPLETION.formatted("")).post("/v1/completions").then()
                .statusCode(200).contentType(containsString("application/json")).body("object", equalTo("text_completion"));
        withAccept(accept).contentType(ContentType.JSON).body(CHAT.formatted(", \"stream\": true")).post("/v1/chat/completions")
                .then().statusCode(200).contentType(containsString("text/event-stream"));
        withAccept(accept).contentType(ContentType.JSON).body(COMPLETION.formatted(", \"stream\": true")).post("/v1/completions")
                .then().statusCode(200).contentType(containsString("text/event-stream"));
        withAccept(accept).contentType(ContentType.JSON).body(CHAT.formatted(", \"temperature\": 9")).post("/v1/chat/completions")
                .then().statusCode(400).contentType(containsString("application/json")).body("error.param", equalTo("temperature"));
    }

    static io.restassured.specification.RequestSpecification withAccept(String accept) {
        return given().accept(accept);
    }

    @io.quarkus.test.common.http.TestHTTPResource("/v1")
    java.net.URL v1;

    /** No Accept header at all (RestAssured always sends one; the JDK client sends none unless told). */
    @Test
    void noAcceptHeaderAtAll() throws Exception {
        var client = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();
        for (String stream : List.of("", ", \"stream\": true")) {
            var r = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(v1 + "/chat/completions"))
                            .header("Content-Type", "application/json")
                            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(CHAT.formatted(stream))).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            org.junit.jupiter.api.Assertions.assertEquals(200, r.statusCode(), r.body());
            org.junit.jupiter.api.Assertions.assertTrue(r.headers().firstValue("Content-Type").orElseThrow()
                    .startsWith(stream.isEmpty() ? "application/json" : "text/event-stream"));
        }
    }

    @Test
    void anUnknownModelIdIs404InOpenAisShape() {
        given().get("/v1/models/no-such-model").then().statusCode(404)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.code", equalTo("model_not_found"))
                .body("error.param", equalTo("model"))
                .body("error.message", containsString("no-such-model"));
    }

    @Test
    void theRoleComesInTheFirstDeltaOnly() {
        String body = given().contentType(ContentType.JSON).body(CHAT.formatted(", \"stream\": true"))
                .post("/v1/chat/completions").then().statusCode(200).extract().asString();
        List<String> events = OpenAiResourceTest.events(body);
        var first = io.restassured.path.json.JsonPath.from(events.get(0));
        org.junit.jupiter.api.Assertions.assertEquals("assistant", first.getString("choices[0].delta.role"));
        for (String e : events.subList(1, events.size() - 1)) {
            org.junit.jupiter.api.Assertions.assertFalse(e.contains("\"role\""), "no role after the first delta: " + e);
        }
    }

    /** OpenAI's ranges, answered 400 with the field in {@code param}. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "\"temperature\": 2.01 | temperature",
            "\"temperature\": -0.1 | temperature",
            "\"top_p\": 1.5 | top_p",
            "\"n\": 0 | n",
            "\"max_tokens\": 0 | max_tokens",
            "\"max_completion_tokens\": 0 | max_completion_tokens",
            "\"presence_penalty\": 2.5 | presence_penalty",
            "\"frequency_penalty\": -3 | frequency_penalty",
            "\"top_logprobs\": 21 | top_logprobs",
            "\"logit_bias\": {\"1\": 101} | logit_bias",
            "\"messages\": [] | messages",
            "\"messages\": [{\"content\": \"x\"}] | messages[0].role",
    })
    void outOfRangeValuesNameTheField(String field, String param) {
        chat(field).statusCode(400).body("error.type", equalTo("invalid_request_error")).body("error.param", equalTo(param));
    }

    /** What kvfn does not implement is refused by name, never silently ignored. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "\"logit_bias\": {\"42\": 5} | logit_bias",
            "\"frequency_penalty\": 0.5 | frequency_penalty",
            "\"presence_penalty\": -1 | presence_penalty",
            "\"n\": 2 | n",
            "\"logprobs\": true | logprobs",
            "\"top_logprobs\": 2 | top_logprobs",
            "\"audio\": {\"voice\": \"alloy\"} | audio",
            "\"modalities\": [\"text\", \"audio\"] | modalities",
            "\"functions\": [] | functions",
            "\"prediction\": {\"type\": \"content\", \"content\": \"x\"} | prediction",
            "\"no_such_field\": 1 | no_such_field",
    })
    void unimplementedFieldsAreRefusedByName(String field, String param) {
        chat(field).statusCode(400).body("error.param", equalTo(param)).body("error.message", containsString(param));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "\"echo\": true | echo",
            "\"best_of\": 2 | best_of",
            "\"suffix\": \"end\" | suffix",
            "\"logprobs\": 1 | logprobs",
            "\"logit_bias\": {\"42\": 5} | logit_bias",
            "\"temperature\": 3 | temperature",
    })
    void completionsRefuseByNameToo(String field, String param) {
        given().contentType(ContentType.JSON).body(COMPLETION.formatted(", " + field)).post("/v1/completions").then()
                .statusCode(400).body("error.param", equalTo(param));
    }

    /** The values that ask for nothing are accepted: what clients send by default. */
    @Test
    void neutralValuesAreAccepted() {
        chat("\"frequency_penalty\": 0, \"presence_penalty\": 0, \"logit_bias\": {}, \"n\": 1, \"logprobs\": false,"
                + " \"top_logprobs\": 0, \"user\": \"u1\", \"store\": false, \"temperature\": 2, \"top_p\": 0")
                .statusCode(200).body("choices", hasSize(1));
    }

    ValidatableResponse chat(String field) {
        String body = field.startsWith("\"messages\"") ? "{" + field + ", \"max_tokens\": 2}" : CHAT.formatted(", " + field);
        return given().contentType(ContentType.JSON).body(body).post("/v1/chat/completions").then();
    }

    /** An event type no function takes: a 400 that names the type (not "no such function: /"), itself an event. */
    @Test
    void anUnknownEventTypeIsNamed() {
        given().header("ce-specversion", "1.0").header("ce-id", "e1").header("ce-source", "test").header("ce-type", "dev.kvfn.nope")
                .contentType(ContentType.JSON).body("{\"prompt\": \"hi\"}").post("/").then()
                .statusCode(400)
                .header("ce-type", "dev.kvfn.error").header("ce-source", "kvfn").header("ce-specversion", "1.0")
                .body("error.message", containsString("dev.kvfn.nope"))
                .body("error.message", containsString("dev.kvfn.generate"))
                .body("error.message", not(containsString("no such function")));
    }

    @Test
    void aBadEventBodyIsAnErrorEvent() {
        given().header("ce-specversion", "1.0").header("ce-id", "e2").header("ce-source", "test").header("ce-type", "dev.kvfn.generate")
                .contentType(ContentType.JSON).body("{not json").post("/").then()
                .statusCode(400).header("ce-type", "dev.kvfn.error")
                .body("error.message", containsString("malformed request body"));
        given().header("ce-specversion", "1.0").header("ce-id", "e3").header("ce-source", "test").header("ce-type", "dev.kvfn.generate")
                .contentType(ContentType.JSON).body("{\"prompt\": \"\"}").post("/").then()
                .statusCode(400).header("ce-type", "dev.kvfn.error")
                .body("error.message", containsString("prompt"));
        // structured mode: the error is a structured event
        given().contentType("application/cloudevents+json").body("{\"specversion\": \"1.0\", \"id\": \"e4\", \"source\": \"test\","
                        + " \"type\": \"dev.kvfn.generate\", \"datacontenttype\": \"application/json\", \"data\": {\"prompt\": \"\"}}")
                .post("/").then().statusCode(400).contentType(containsString("application/cloudevents+json"))
                .body("type", equalTo("dev.kvfn.error")).body("specversion", equalTo("1.0"))
                .body("data.error.message", containsString("prompt"));
    }

    /** No Redis configured: readiness has the engine's check only, and no Redis tier in its data. */
    @Test
    void readinessReportsNoRedisWhenNoneIsConfigured() {
        Management.request().get("/q/health/ready").then().statusCode(200)
                .body("checks", hasSize(1))
                .body("checks[0].name", equalTo("kvfn-engine"))
                .body("checks[0].data.'tier.redis'", nullValue());
    }
}
