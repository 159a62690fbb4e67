package dev.kvfn.function;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.engine.Engine;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.matchesPattern;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tool calls through {@code /v1/chat/completions}, on an engine whose output is scripted (a Qwen 2.5-family model
 * writing {@code <tool_call>} blocks): the prompt carries the tools in the family's format, the output comes back
 * as OpenAI's {@code tool_calls}, whole and streamed, in OpenAI's shapes.
 */
@QuarkusTest
@TestProfile(ScriptedEngine.Profile.class)
class OpenAiToolCallsTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOOLS = """
            [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
             {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
              "properties": {"zone": {"type": "string"}}}}}]""";
    static final String ASK = """
            [{"role": "system", "content": "You are a weather bot."}, {"role": "user", "content": "Weather in Paris?"}]""";
    static final String CALL = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

    @Inject
    Engine engine;

    ScriptedEngine scripted() {
        return (ScriptedEngine) engine;
    }

    static String chat(String messages, String extra) {
        return "{\"messages\": " + messages + ", \"tools\": " + TOOLS + ", \"temperature\": 0" + extra + "}";
    }

    static JsonNode post(String body, int status) {
        String out = given().contentType(ContentType.JSON).body(body).post("/v1/chat/completions").then()
                .statusCode(status).extract().asString();
        try {
            return JSON.readTree(out);
        } catch (java.io.IOException e) {
            throw new AssertionError(out, e);
        }
    }

    /** The data payloads of an SSE body (checked to end with [DONE]), [DONE] left out. */
    static List<JsonNode> chunks(String body) throws java.io.IOException {
        List<String> events = OpenAiResourceTest.events(body);
        assertEquals("[DONE]", events.getLast());
        List<JsonNode> out = new ArrayList<>();
        for (String e : events.subList(0, events.size() - 1)) out.add(JSON.readTree(e));
        return out;
    }

    static JsonNode onlyCall(JsonNode response) {
        JsonNode choice = response.get("choices").get(0);
        assertEquals("tool_calls", choice.get("finish_reason").textValue(), response.toString());
        assertTrue(choice.get("message").get("content").isNull(), response.toString());
        assertEquals(1, choice.get("message").get("tool_calls").size());
        return choice.get("message").get("tool_calls").get(0);
    }

    @Test
    void theModelsCallComesBackAsToolCalls() throws Exception {
        scripted().script(CALL, 5);
        JsonNode r = post(chat(ASK, ""), 200);
        JsonNode choice = r.get("choices").get(0);
        assertEquals("tool_calls", choice.get("finish_reason").textValue());
        JsonNode message = choice.get("message");
        assertEquals("assistant", message.get("role").textValue());
        assertTrue(message.get("content").isNull(), message.toString());
        assertEquals(1, message.get("tool_calls").size());
        JsonNode call = message.get("tool_calls").get(0);
        assertTrue(call.get("id").textValue().matches("call_[A-Za-z0-9]{24}"), call.toString());
        assertEquals("function", call.get("type").textValue());
        assertEquals("get_weather", call.get("function").get("name").textValue());
        assertEquals(JSON.readTree("{\"city\": \"Paris\"}"), JSON.readTree(call.get("function").get("arguments").textValue()));

        String prompt = scripted().lastPrompt(); // the tools went into the prompt in the family's format
        assertTrue(prompt.startsWith("<|im_start|>system\nYou are a weather bot.\n\n# Tools\n\nYou may call one or more functions"), prompt);
        assertTrue(prompt.contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": "
                + "\"Current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": "
                + "\"string\"}}, \"required\": [\"city\"]}}}\n{\"type\": \"function\", \"function\": {\"name\": \"get_time\""), prompt);
        assertTrue(prompt.endsWith("</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"), prompt);
    }

    @Test
    void streamedCallsArriveAsOpenAiDeltas() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.kvfn.function.openai.OpenAiResource.onLambda(), "no streaming behind API Gateway");
        scripted().script("Let me look that up.\n" + CALL + "\n" + CALL.replace("get_weather", "get_time")
                .replace("\"city\": \"Paris\"", "\"zone\": \"CET\""), 3);
        String body = given().contentType(ContentType.JSON)
                .body(chat(ASK, ", \"stream\": true, \"stream_options\": {\"include_usage\": true}"))
                .post("/v1/chat/completions").then().statusCode(200)
                .contentType(containsString("text/event-stream")).extract().asString();
        List<JsonNode> chunks = chunks(body);
        StringBuilder content = new StringBuilder();
        List<String> names = new ArrayList<>();
        List<StringBuilder> arguments = new ArrayList<>();
        String finish = null;
        int withRole = 0;
        for (JsonNode c : chunks) {
            assertEquals("chat.completion.chunk", c.get("object").textValue());
            if (c.get("choices").isEmpty()) {
                assertTrue(c.has("usage"), c.toString());
                continue;
            }
            JsonNode choice = c.get("choices").get(0);
            JsonNode delta = choice.get("delta");
            if (delta.has("role")) {
                withRole++;
                assertEquals("assistant", delta.get("role").textValue());
            }
            if (delta.hasNonNull("content")) content.append(delta.get("content").textValue());
            if (delta.has("tool_calls")) {
                JsonNode t = delta.get("tool_calls").get(0);
                int index = t.get("index").intValue();
                if (t.has("id")) { // a call's first delta: id, type, name, empty arguments
                    assertEquals(names.size(), index);
                    assertTrue(t.get("id").textValue().startsWith("call_"), t.toString());
                    assertEquals("function", t.get("type").textValue());
                    assertEquals("", t.get("function").get("arguments").textValue());
                    names.add(t.get("function").get("name").textValue());
                    arguments.add(new StringBuilder());
                } else {
                    assertFalse(t.get("function").has("name"), t.toString());
                    arguments.get(index).append(t.get("function").get("arguments").textValue());
                }
            }
            if (choice.hasNonNull("finish_reason")) finish = choice.get("finish_reason").textValue();
        }
        assertEquals(1, withRole, "the role is in the first delta only");
        assertTrue(chunks.getFirst().get("choices").get(0).get("delta").has("role"));
        assertEquals("Let me look that up.", content.toString());
        assertEquals(List.of("get_weather", "get_time"), names);
        assertEquals(JSON.readTree("{\"city\": \"Paris\"}"), JSON.readTree(arguments.get(0).toString()));
        assertEquals(JSON.readTree("{\"zone\": \"CET\"}"), JSON.readTree(arguments.get(1).toString()));
        assertEquals("tool_calls", finish);
    }

    @Test
    void aStreamThatOpensWithACallHasNullContentBesideTheRole() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.kvfn.function.openai.OpenAiResource.onLambda(), "no streaming behind API Gateway");
        scripted().script(CALL, 4);
        String body = given().contentType(ContentType.JSON).body(chat(ASK, ", \"stream\": true"))
                .post("/v1/chat/completions").then().statusCode(200).extract().asString();
        List<JsonNode> chunks = chunks(body);
        JsonNode first = chunks.getFirst().get("choices").get(0).get("delta");
        assertEquals("assistant", first.get("role").textValue());
        assertTrue(first.get("content").isNull(), first.toString());
        assertEquals("get_weather", first.get("tool_calls").get(0).get("function").get("name").textValue());
        assertEquals("tool_calls", chunks.getLast().get("choices").get(0).get("finish_reason").textValue());
    }

    @Test
    void aMalformedCallIsOrdinaryContent() {
        String broken = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>";
        scripted().script(broken, 7);
        given().contentType(ContentType.JSON).body(chat(ASK, "")).post("/v1/chat/completions").then().statusCode(200)
                .body("choices[0].finish_reason", equalTo("stop"))
                .body("choices[0].message.content", equalTo(broken))
                .body("choices[0].message.tool_calls", nullValue());
    }

    @Test
    void withoutParallelToolCallsOneCallComesBack() {
        scripted().script(CALL + "\n" + CALL, 6);
        given().contentType(ContentType.JSON).body(chat(ASK, ", \"parallel_tool_calls\": false"))
                .post("/v1/chat/completions").then().statusCode(200)
                .body("choices[0].message.tool_calls.size()", equalTo(1));
    }

    @Test
    void theCallsAndResultsOfEarlierTurnsGoIntoThePrompt() {
        scripted().script("It is 18 C in Paris.", 4);
        String history = """
                [{"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\\"city\\":\\"Paris\\"}"}}]},
                 {"role": "tool", "tool_call_id": "call_abc", "content": "18 C"}]""";
        given().contentType(ContentType.JSON).body(chat(history, "")).post("/v1/chat/completions").then().statusCode(200)
                .body("choices[0].finish_reason", equalTo("stop"))
                .body("choices[0].message.content", equalTo("It is 18 C in Paris."));
        String prompt = scripted().lastPrompt();
        assertTrue(prompt.startsWith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                + "\n\n# Tools\n\n"), prompt);
        assertTrue(prompt.endsWith("<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n"
                + "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n"
                + "<tool_response>\n18 C\n</tool_response><|im_end|>\n<|im_start|>assistant\n"), prompt);
    }

    @Test
    void toolChoiceNoneLeavesTheToolsOutAndTheOutputAlone() {
        scripted().script(CALL, 5);
        given().contentType(ContentType.JSON).body(chat(ASK, ", \"tool_choice\": \"none\"")).post("/v1/chat/completions")
                .then().statusCode(200)
                .body("choices[0].finish_reason", equalTo("stop"))
                .body("choices[0].message.content", equalTo(CALL))
                .body("choices[0].message.tool_calls", nullValue());
        assertFalse(scripted().lastPrompt().contains("# Tools"), scripted().lastPrompt());
    }

    @Test
    void chatsWithoutToolsAreUnchanged() {
        scripted().script(CALL, 5);
        given().contentType(ContentType.JSON).body("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}")
                .post("/v1/chat/completions").then().statusCode(200)
                .body("choices[0].message.content", equalTo(CALL))
                .body("choices[0].finish_reason", equalTo("stop"));
        assertEquals("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", scripted().lastPrompt()); // the model's own template
    }

    static void rejected(String body, String... fragments) {
        var then = given().contentType(ContentType.JSON).body(body).post("/v1/chat/completions").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"));
        for (String f : fragments) then.body("error.message", containsString(f));
    }

    @Test
    void badToolFieldsAre400sNamingTheField() {
        String user = "[{\"role\": \"user\", \"content\": \"hi\"}]";
        rejected("{\"messages\": " + user + ", \"tools\": {}}", "\"tools\" must be an array");
        rejected("{\"messages\": " + user + ", \"tools\": [{\"type\": \"retrieval\"}]}", "tools[0].type");
        rejected("{\"messages\": " + user + ", \"tools\": [{\"type\": \"function\", \"function\": {\"description\": \"x\"}}]}",
                "tools[0].function.name");
        rejected("{\"messages\": " + user + ", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"has space\"}}]}",
                "tools[0].function.name");
        rejected("{\"messages\": " + user + ", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", "
                + "\"parameters\": {\"type\": \"string\"}}}]}", "tools[0].function.parameters.type");
        rejected("{\"messages\": " + user + ", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}, "
                + "{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}", "tools[1].function.name", "twice");
        rejected(chat(user, ", \"tool_choice\": \"sometimes\""), "\"tool_choice\" must be");
        rejected(chat(user, ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"nope\"}}"), "tool_choice.function.name");
        rejected("{\"messages\": " + user + ", \"tool_choice\": \"auto\"}", "only allowed when \"tools\"");
        rejected(chat("[{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"tool\", \"content\": \"18 C\"}]", ""),
                "messages[1].tool_call_id");
        rejected(chat("[{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", "
                + "\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{not json\"}}]}]", ""),
                "messages[1].tool_calls[0].function.arguments");
    }

    @Test
    void aForcedCallOpensInThePromptAndItsJsonComesBackAsTheCall() throws Exception {
        // the engine is scripted (no constraint applied): what a constrained model writes after the prompted prefix
        scripted().script("{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}", 5);
        JsonNode call = onlyCall(post(chat(ASK, ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"get_time\"}}"), 200));
        assertEquals("get_time", call.at("/function/name").textValue());
        assertEquals(JSON.readTree("{\"zone\": \"CET\"}"), JSON.readTree(call.at("/function/arguments").textValue()));
        assertTrue(scripted().lastPrompt().endsWith("<|im_start|>assistant\n<tool_call>\n"), scripted().lastPrompt());
        assertTrue(scripted().lastRequest().constraint() != null, "the output is constrained");

        scripted().script("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}", 4);
        onlyCall(post(chat(ASK, ", \"tool_choice\": \"required\", \"response_format\": {\"type\": \"json_object\"}"), 200));
        assertTrue(scripted().lastPrompt().endsWith("<tool_call>\n"), scripted().lastPrompt());
    }

    @Test
    void idsAreFreshPerCall() {
        scripted().script(CALL, 5);
        String a = post(chat(ASK, ""), 200).at("/choices/0/message/tool_calls/0/id").textValue();
        String b = post(chat(ASK, ""), 200).at("/choices/0/message/tool_calls/0/id").textValue();
        assertFalse(a.equals(b), a);
        given().contentType(ContentType.JSON).body(chat(ASK, "")).post("/v1/chat/completions").then()
                .body("choices[0].message.tool_calls[0].id", matchesPattern("call_[A-Za-z0-9]{24}"));
    }
}
