package dev.kvfn.function;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvfn.engine.Engine;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.util.List;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Mistral v3 format through {@code /v1/chat/completions} (Qwen's: {@link OpenAiToolCallsTest}). */
@QuarkusTest
@TestProfile(ScriptedEngine.Mistral.class)
class OpenAiToolCallsMistralTest {
    @Inject
    Engine engine;

    @Test
    void callsArrayWithoutItsControlTokenAndNineCharacterIds() throws Exception {
        ScriptedEngine scripted = (ScriptedEngine) engine;
        // [TOOL_CALLS] is a control token: kvfn's detokenizer shows no text for it, so the output starts with the array
        scripted.script(" [{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}]", 6);
        JsonNode call = OpenAiToolCallsTest.onlyCall(OpenAiToolCallsTest.post(OpenAiToolCallsTest.chat(OpenAiToolCallsTest.ASK, ""), 200));
        assertEquals("get_time", call.at("/function/name").textValue());
        String id = call.get("id").textValue();
        assertTrue(id.matches("[A-Za-z0-9]{9}"), id);
        assertTrue(scripted.lastPrompt().contains("[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""),
                scripted.lastPrompt());

        scripted.script(List.of("It is 14:05."));
        String history = """
                [{"role": "user", "content": "Time in Paris?"},
                 {"role": "assistant", "tool_calls": [{"id": "%s", "type": "function",
                   "function": {"name": "get_time", "arguments": "{\\"zone\\": \\"CET\\"}"}}]},
                 {"role": "tool", "tool_call_id": "%s", "content": "\\"14:05\\""}]""".formatted(id, id);
        OpenAiToolCallsTest.post(OpenAiToolCallsTest.chat(history, ""), 200);
        String prompt = scripted.lastPrompt(); // </s> is the vocabulary's EOS control token: no text when decoded
        assertTrue(prompt.contains("[/INST][TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}, "
                + "\"id\": \"" + id + "\"}]"), prompt);
        assertTrue(prompt.endsWith("[TOOL_RESULTS] {\"content\": \"14:05\", \"call_id\": \"" + id + "\"}[/TOOL_RESULTS]"), prompt);
    }

    @Test
    void aForcedCallOpensWithToolCallsInThePrompt() throws Exception {
        ScriptedEngine scripted = (ScriptedEngine) engine;
        scripted.script("[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]", 5);
        JsonNode call = OpenAiToolCallsTest.onlyCall(OpenAiToolCallsTest.post(OpenAiToolCallsTest.chat(OpenAiToolCallsTest.ASK,
                ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}"), 200));
        assertEquals("get_weather", call.at("/function/name").textValue());
        assertTrue(scripted.lastPrompt().endsWith("[/INST][TOOL_CALLS] "), scripted.lastPrompt());
        assertTrue(scripted.lastRequest().constraint() != null, "the output is constrained");
    }
}
