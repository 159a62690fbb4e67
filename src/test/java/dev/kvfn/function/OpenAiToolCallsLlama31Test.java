package dev.kvfn.function;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvfn.engine.Engine;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Llama 3.1 format through {@code /v1/chat/completions} (Qwen's: {@link OpenAiToolCallsTest}). */
@QuarkusTest
@TestProfile(ScriptedEngine.Llama31.class)
class OpenAiToolCallsLlama31Test {
    @Inject
    Engine engine;

    @Test
    void bareJsonCallAndIpythonResults() throws Exception {
        ScriptedEngine scripted = (ScriptedEngine) engine;
        scripted.script("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", 4);
        JsonNode call = OpenAiToolCallsTest.onlyCall(OpenAiToolCallsTest.post(OpenAiToolCallsTest.chat(OpenAiToolCallsTest.ASK, ""), 200));
        assertEquals("get_weather", call.at("/function/name").textValue());
        assertEquals(OpenAiToolCallsTest.JSON.readTree("{\"city\": \"Paris\"}"),
                OpenAiToolCallsTest.JSON.readTree(call.at("/function/arguments").textValue()));
        String prompt = scripted.lastPrompt();
        assertTrue(prompt.contains("<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge "
                + "Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a weather bot.<|eot_id|><|start_header_id|>user"
                + "<|end_header_id|>\n\nGiven the following functions"), prompt);

        scripted.script(List.of("It", " is", " 18 C."));
        String history = """
                [{"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}]""";
        JsonNode answer = OpenAiToolCallsTest.post(OpenAiToolCallsTest.chat(history, ""), 200);
        assertEquals("It is 18 C.", answer.at("/choices/0/message/content").textValue());
        assertEquals("stop", answer.at("/choices/0/finish_reason").textValue());
        assertTrue(scripted.lastPrompt().endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", "
                + "\"parameters\": {\"city\": \"Paris\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"18 C\"<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n"), scripted.lastPrompt());
    }

    @Test
    void textThatIsNoCallStreamsAsContent() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.kvfn.function.openai.OpenAiResource.onLambda(), "no streaming behind API Gateway");
        ((ScriptedEngine) engine).script("I cannot check the weather.", 5);
        String body = given().contentType(io.restassured.http.ContentType.JSON)
                .body(OpenAiToolCallsTest.chat(OpenAiToolCallsTest.ASK, ", \"stream\": true")).post("/v1/chat/completions")
                .then().statusCode(200).extract().asString();
        List<JsonNode> chunks = OpenAiToolCallsTest.chunks(body);
        StringBuilder content = new StringBuilder();
        for (JsonNode c : chunks) {
            JsonNode delta = c.at("/choices/0/delta");
            if (delta.hasNonNull("content")) content.append(delta.get("content").textValue());
            assertTrue(!delta.has("tool_calls"), c.toString());
        }
        assertEquals("I cannot check the weather.", content.toString());
        assertTrue(chunks.size() > 3, "content streamed in pieces, not held: " + chunks.size() + " chunks");
        assertEquals("stop", chunks.getLast().at("/choices/0/finish_reason").textValue());
    }

    @Test
    void aForcedCallIsTheBareJsonTheConstraintAsksFor() throws Exception {
        ScriptedEngine scripted = (ScriptedEngine) engine;
        scripted.script("{\"name\": \"get_time\", \"parameters\": {\"zone\": \"CET\"}}", 4);
        JsonNode call = OpenAiToolCallsTest.onlyCall(OpenAiToolCallsTest.post(OpenAiToolCallsTest.chat(OpenAiToolCallsTest.ASK,
                ", \"tool_choice\": \"required\""), 200));
        assertEquals("get_time", call.at("/function/name").textValue());
        // Llama 3 calls have no opening marker: the prompt ends where the assistant turn begins, as without forcing
        assertTrue(scripted.lastPrompt().endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n"), scripted.lastPrompt());
        assertTrue(scripted.lastRequest().constraint() != null, "the output is constrained");
    }
}
