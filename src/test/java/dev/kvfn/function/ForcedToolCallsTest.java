package dev.kvfn.function;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvfn.engine.structured.SchemaCheck;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Forced tool calls ({@code tool_choice: "required"} or a named function) through {@code /v1/chat/completions} on
 * a model that knows nothing of tools: the synthetic tiny model (random weights, no chat template, so the ChatML
 * fallback and Hermes-style calls) with room for the tools in its context. Sampled at temperature 1, every answer
 * must still be a call of an allowed function whose arguments an independent validator (networknt) finds valid
 * against the function's parameters. (stories260K's context cannot hold a prompt with tools; its vocabulary is
 * walked for every family in {@code ForcedToolCallTest}.)
 */
@QuarkusTest
@TestProfile(LongContextModel.class)
class ForcedToolCallsTest {
    static final String WEATHER_PARAMS = """
            {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}, "days": {"type": "integer"},
             "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["city", "unit"], "additionalProperties": false}""";
    static final String TIME_PARAMS = """
            {"type": "object", "properties": {"zone": {"type": "string", "maxLength": 6}, "dst": {"type": "boolean"}},
             "required": ["zone"]}""";
    static final Map<String, String> PARAMS = Map.of("get_weather", WEATHER_PARAMS, "get_time", TIME_PARAMS);
    static final String TOOLS = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": " + WEATHER_PARAMS
            + "}}, {\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": " + TIME_PARAMS + "}}]";

    static String chat(String toolChoice, String extra) {
        return "{\"messages\": [{\"role\": \"user\", \"content\": \"Once upon a time\"}], \"tools\": " + TOOLS
                + ", \"tool_choice\": " + toolChoice + ", \"max_tokens\": 200" + extra + "}";
    }

    static JsonNode post(String body) {
        var response = given().contentType(ContentType.JSON).body(body).post("/v1/chat/completions");
        assertEquals(200, response.statusCode(), response.asString());
        return SchemaCheck.parse(response.asString());
    }

    /** The one call of a forced answer, checked: finish_reason, no content, a declared name, valid arguments. */
    static JsonNode forcedCall(JsonNode response, List<String> allowed) {
        JsonNode choice = response.at("/choices/0");
        assertEquals("tool_calls", choice.get("finish_reason").textValue(), response.toString());
        assertTrue(choice.at("/message/content").isNull(), response.toString());
        assertEquals(1, choice.at("/message/tool_calls").size(), response.toString());
        JsonNode call = choice.at("/message/tool_calls/0");
        assertTrue(call.get("id").textValue().matches("call_[A-Za-z0-9]{24}"), call.toString());
        assertEquals("function", call.get("type").textValue());
        String name = call.at("/function/name").textValue();
        assertTrue(allowed.contains(name), name);
        assertEquals(List.of(), SchemaCheck.problems(PARAMS.get(name), call.at("/function/arguments").textValue()));
        return call;
    }

    @Test
    void requiredForcesAValidCallOfADeclaredFunction() {
        java.util.Set<String> names = new java.util.HashSet<>();
        for (int seed = 0; seed < 12; seed++) {
            JsonNode call = forcedCall(post(chat("\"required\"", ", \"temperature\": 1.0, \"seed\": " + seed)),
                    List.of("get_weather", "get_time"));
            names.add(call.at("/function/name").textValue());
        }
        assertTrue(!names.isEmpty(), "calls were made");
    }

    @Test
    void aNamedFunctionForcesACallOfThatFunction() {
        for (String name : List.of("get_time", "get_weather")) {
            for (int seed = 0; seed < 6; seed++) {
                forcedCall(post(chat("{\"type\": \"function\", \"function\": {\"name\": \"" + name + "\"}}",
                        ", \"temperature\": 1.0, \"seed\": " + seed)), List.of(name));
            }
        }
        forcedCall(post(chat("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}", ", \"temperature\": 0")),
                List.of("get_weather"));
    }

    @Test
    void aForcedCallStreamsAsOpenAiDeltas() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.kvfn.function.openai.OpenAiResource.onLambda(), "no streaming behind API Gateway");
        for (int seed = 0; seed < 3; seed++) {
            String body = given().contentType(ContentType.JSON)
                    .body(chat("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}",
                            ", \"temperature\": 1.0, \"seed\": " + seed + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}"))
                    .post("/v1/chat/completions").then().statusCode(200).contentType(containsString("text/event-stream"))
                    .extract().asString();
            List<JsonNode> chunks = OpenAiToolCallsTest.chunks(body);
            JsonNode first = chunks.getFirst().at("/choices/0/delta");
            assertEquals("assistant", first.get("role").textValue(), first.toString());
            assertTrue(first.get("content").isNull(), first.toString());
            assertEquals("get_weather", first.at("/tool_calls/0/function/name").textValue());
            assertEquals(0, first.at("/tool_calls/0/index").intValue());
            StringBuilder arguments = new StringBuilder();
            String finish = null;
            for (JsonNode c : chunks) {
                if (c.get("choices").isEmpty()) continue; // the usage chunk
                JsonNode choice = c.at("/choices/0");
                assertTrue(!choice.path("delta").hasNonNull("content"), "no content in a forced call: " + c);
                JsonNode args = choice.at("/delta/tool_calls/0/function/arguments");
                if (args.isTextual()) arguments.append(args.textValue());
                if (choice.hasNonNull("finish_reason")) finish = choice.get("finish_reason").textValue();
            }
            assertEquals("tool_calls", finish);
            assertTrue(chunks.getLast().get("choices").isEmpty() && chunks.getLast().at("/usage/completion_tokens").intValue() > 0,
                    chunks.getLast().toString());
            assertEquals(List.of(), SchemaCheck.problems(WEATHER_PARAMS, arguments.toString()));
        }
    }

    @Test
    void aForcedCallWinsOverResponseFormat() {
        String format = ", \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"schema\": "
                + "{\"type\": \"array\", \"items\": {\"type\": \"integer\"}}}}";
        for (int seed = 0; seed < 3; seed++) {
            forcedCall(post(chat("\"required\"", ", \"temperature\": 1.0, \"seed\": " + seed + format)), List.of("get_weather", "get_time"));
        }
        // the format still has to be a good one
        given().contentType(ContentType.JSON).body(chat("\"required\"", ", \"response_format\": {\"type\": \"yaml\"}"))
                .post("/v1/chat/completions").then().statusCode(400).body("error.message", containsString("response_format.type"));
        // without forcing, the format applies
        String content = post(chat("\"auto\"", ", \"temperature\": 0" + format)).at("/choices/0/message/content").textValue();
        assertEquals(List.of(), SchemaCheck.problems("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}}", content));
    }

    @Test
    void aCallCutByMaxTokensIsLengthAndNoCall() {
        JsonNode r = post(chat("\"required\"", ", \"temperature\": 0, \"max_tokens\": 4"));
        assertEquals("length", r.at("/choices/0/finish_reason").textValue(), r.toString());
        assertTrue(r.at("/choices/0/message/tool_calls").isMissingNode(), r.toString());
        assertTrue(r.at("/choices/0/message/content").textValue().strip().startsWith("{"), r.toString()); // the cut call, as text
    }

    @Test
    void parametersTheConstraintCannotTakeAre400sOnlyWhenForcing() {
        String tools = "[{\"type\": \"function\", \"function\": {\"name\": \"ok\"}}, {\"type\": \"function\", \"function\": {\"name\": \"f\", "
                + "\"parameters\": {\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\", \"minimum\": 1}}}}}]";
        String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 4, \"tools\": " + tools;
        given().contentType(ContentType.JSON).body(body + ", \"tool_choice\": \"required\"}").post("/v1/chat/completions")
                .then().statusCode(400)
                .body("error.param", equalTo("tools[1].function.parameters"))
                .body("error.message", containsString("\"minimum\""));
        given().contentType(ContentType.JSON).body(body + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"ok\"}}}")
                .post("/v1/chat/completions").then().statusCode(200); // only the named function is compiled
        given().contentType(ContentType.JSON).body(body + "}").post("/v1/chat/completions").then().statusCode(200); // auto: unconstrained
    }
}
