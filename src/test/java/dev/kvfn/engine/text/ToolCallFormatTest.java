package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conversations with tools render exactly as each family's real chat template renders them. The expected texts
 * are what the published templates (Llama 3.1 8B Instruct, Qwen 2.5 Instruct, Mistral 7B Instruct v0.3) produce
 * through Python Jinja2 with Hugging Face's settings (trim_blocks, lstrip_blocks, tojson = json.dumps with
 * ensure_ascii=False) for these very messages; the templates themselves are not part of this repository.
 */
class ToolCallFormatTest {
    static final String WEATHER = "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
            + "\"description\": \"Get the current weather in a city\", \"parameters\": {\"type\": \"object\", "
            + "\"properties\": {\"city\": {\"type\": \"string\", \"description\": \"The city name\"}, "
            + "\"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\"]}}}";
    static final String TIME = "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", "
            + "\"description\": \"Current time in a time zone\", \"parameters\": {\"type\": \"object\", "
            + "\"properties\": {\"zone\": {\"type\": \"string\"}}, \"required\": [\"zone\"]}}}";

    static ToolDefinition tool(String json) {
        ObjectNode t = (ObjectNode) TemplateJson.parse(json);
        return new ToolDefinition(t.get("function").get("name").textValue(), t.get("function").get("parameters"), t);
    }

    static final List<ToolDefinition> TOOLS = List.of(tool(WEATHER), tool(TIME));

    static ObjectNode args(String json) {
        return (ObjectNode) TemplateJson.parse(json);
    }

    /** system, user, the assistant's call, the tool's result. */
    static List<ChatTemplate.Message> weatherConversation(String callId) {
        return List.of(new ChatTemplate.Message("system", "You are a helpful assistant."),
                new ChatTemplate.Message("user", "What is the weather in Paris?"),
                new ChatTemplate.Message("assistant", "", List.of(new ToolCall(callId, "get_weather",
                        args("{\"city\": \"Paris\", \"unit\": \"celsius\"}"))), null),
                new ChatTemplate.Message("tool", "{\"temperature\": 18}", List.of(), callId));
    }

    @Test
    void llama31() {
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
                + "\n"
                + "Environment: ipython\n"
                + "Cutting Knowledge Date: December 2023\n"
                + "Today Date: 26 Jul 2024\n"
                + "\n"
                + "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
                + "\n"
                + "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n"
                + "\n"
                + "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n"
                + "\n"
                + "{\n"
                + "    \"type\": \"function\",\n"
                + "    \"function\": {\n"
                + "        \"name\": \"get_weather\",\n"
                + "        \"description\": \"Get the current weather in a city\",\n"
                + "        \"parameters\": {\n"
                + "            \"type\": \"object\",\n"
                + "            \"properties\": {\n"
                + "                \"city\": {\n"
                + "                    \"type\": \"string\",\n"
                + "                    \"description\": \"The city name\"\n"
                + "                },\n"
                + "                \"unit\": {\n"
                + "                    \"type\": \"string\",\n"
                + "                    \"enum\": [\n"
                + "                        \"celsius\",\n"
                + "                        \"fahrenheit\"\n"
                + "                    ]\n"
                + "                }\n"
                + "            },\n"
                + "            \"required\": [\n"
                + "                \"city\"\n"
                + "            ]\n"
                + "        }\n"
                + "    }\n"
                + "}\n"
                + "\n"
                + "{\n"
                + "    \"type\": \"function\",\n"
                + "    \"function\": {\n"
                + "        \"name\": \"get_time\",\n"
                + "        \"description\": \"Current time in a time zone\",\n"
                + "        \"parameters\": {\n"
                + "            \"type\": \"object\",\n"
                + "            \"properties\": {\n"
                + "                \"zone\": {\n"
                + "                    \"type\": \"string\"\n"
                + "                }\n"
                + "            },\n"
                + "            \"required\": [\n"
                + "                \"zone\"\n"
                + "            ]\n"
                + "        }\n"
                + "    }\n"
                + "}\n"
                + "\n"
                + "What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
                + "\n"
                + "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
                + "\n"
                + "\"{\\\"temperature\\\": 18}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
                + "\n";
        assertEquals(expected, new Llama3ToolFormat("26 Jul 2024").render(weatherConversation("call_1"), TOOLS,
                "<|begin_of_text|>", "<|eot_id|>"));
    }

    @Test
    void llama31HistoryWithoutToolsHasNoEnvironmentLine() {
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
                + "\n"
                + "Cutting Knowledge Date: December 2023\n"
                + "Today Date: 26 Jul 2024\n"
                + "\n"
                + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
                + "\n"
                + "What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
                + "\n"
                + "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
                + "\n"
                + "\"18 C\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
                + "\n";
        List<ChatTemplate.Message> history = List.of(new ChatTemplate.Message("user", " What is the weather in Paris? "),
                new ChatTemplate.Message("assistant", "", List.of(new ToolCall("c1", "get_weather", args("{\"city\": \"Paris\"}"))), null),
                new ChatTemplate.Message("tool", "18 C", List.of(), "c1"));
        assertEquals(expected, new Llama3ToolFormat("26 Jul 2024").render(history, List.of(), "<|begin_of_text|>", "<|eot_id|>"));
    }

    @Test
    void llama3RefusesWhatItsTemplateRefuses() {
        var format = new Llama3ToolFormat("26 Jul 2024");
        var twoCalls = List.of(new ChatTemplate.Message("user", "hi"), new ChatTemplate.Message("assistant", "",
                List.of(new ToolCall("a", "get_weather", args("{}")), new ToolCall("b", "get_time", args("{}"))), null));
        var e = assertThrows(IllegalArgumentException.class, () -> format.render(twoCalls, TOOLS, "", ""));
        assertTrue(e.getMessage().contains("single tool-calls"), e.getMessage());
        var systemOnly = List.of(new ChatTemplate.Message("system", "s"));
        assertThrows(IllegalArgumentException.class, () -> format.render(systemOnly, TOOLS, "", ""));
    }

    @Test
    void qwen25() {
        String expected = "<|im_start|>system\n"
                + "You are a helpful assistant.\n"
                + "\n"
                + "# Tools\n"
                + "\n"
                + "You may call one or more functions to assist with the user query.\n"
                + "\n"
                + "You are provided with function signatures within <tools></tools> XML tags:\n"
                + "<tools>\n"
                + "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"The city name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\"]}}}\n"
                + "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": \"Current time in a time zone\", \"parameters\": {\"type\": \"object\", \"properties\": {\"zone\": {\"type\": \"string\"}}, \"required\": [\"zone\"]}}}\n"
                + "</tools>\n"
                + "\n"
                + "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
                + "<tool_call>\n"
                + "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
                + "</tool_call><|im_end|>\n"
                + "<|im_start|>user\n"
                + "What is the weather in Paris?<|im_end|>\n"
                + "<|im_start|>assistant\n"
                + "<tool_call>\n"
                + "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n"
                + "</tool_call><|im_end|>\n"
                + "<|im_start|>user\n"
                + "<tool_response>\n"
                + "{\"temperature\": 18}\n"
                + "</tool_response><|im_end|>\n"
                + "<|im_start|>assistant\n";
        assertEquals(expected, HermesToolFormat.QWEN25.render(weatherConversation("call_1"), TOOLS, "", "<|im_end|>"));
    }

    @Test
    void qwen25ParallelCallsAndResultsInOneUserTurnWithItsDefaultSystemPrompt() {
        String expected = "<|im_start|>system\n"
                + "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n"
                + "\n"
                + "# Tools\n"
                + "\n"
                + "You may call one or more functions to assist with the user query.\n"
                + "\n"
                + "You are provided with function signatures within <tools></tools> XML tags:\n"
                + "<tools>\n"
                + "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"The city name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\"]}}}\n"
                + "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": \"Current time in a time zone\", \"parameters\": {\"type\": \"object\", \"properties\": {\"zone\": {\"type\": \"string\"}}, \"required\": [\"zone\"]}}}\n"
                + "</tools>\n"
                + "\n"
                + "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
                + "<tool_call>\n"
                + "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
                + "</tool_call><|im_end|>\n"
                + "<|im_start|>user\n"
                + "Weather and time in Paris?<|im_end|>\n"
                + "<|im_start|>assistant\n"
                + "Checking.\n"
                + "<tool_call>\n"
                + "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                + "</tool_call>\n"
                + "<tool_call>\n"
                + "{\"name\": \"get_time\", \"arguments\": {\"zone\": \"Europe/Paris\"}}\n"
                + "</tool_call><|im_end|>\n"
                + "<|im_start|>user\n"
                + "<tool_response>\n"
                + "18 C\n"
                + "</tool_response>\n"
                + "<tool_response>\n"
                + "14:05\n"
                + "</tool_response><|im_end|>\n"
                + "<|im_start|>assistant\n";
        List<ChatTemplate.Message> parallel = List.of(new ChatTemplate.Message("user", "Weather and time in Paris?"),
                new ChatTemplate.Message("assistant", "Checking.", List.of(
                        new ToolCall("call_1", "get_weather", args("{\"city\": \"Paris\"}")),
                        new ToolCall("call_2", "get_time", args("{\"zone\": \"Europe/Paris\"}"))), null),
                new ChatTemplate.Message("tool", "18 C", List.of(), "call_1"),
                new ChatTemplate.Message("tool", "14:05", List.of(), "call_2"));
        assertEquals(expected, HermesToolFormat.QWEN25.render(parallel, TOOLS, "", "<|im_end|>"));
    }

    @Test
    void chatMlFallbackIsQwenWithoutItsDefaultSystemPrompt() {
        String rendered = HermesToolFormat.CHATML.render(List.of(new ChatTemplate.Message("user", "hi")), TOOLS, "", "");
        assertTrue(rendered.startsWith("<|im_start|>system\n# Tools\n\nYou may call one or more functions"), rendered);
        assertTrue(rendered.endsWith("</tool_call><|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"), rendered);
    }

    @Test
    void mistralV3() {
        String expected = "<s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the current weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"The city name\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\"]}}}, {\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"description\": \"Current time in a time zone\", \"parameters\": {\"type\": \"object\", \"properties\": {\"zone\": {\"type\": \"string\"}}, \"required\": [\"zone\"]}}}][/AVAILABLE_TOOLS][INST] You are a helpful assistant.\n"
                + "\n"
                + "What is the weather in Paris?[/INST][TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}, \"id\": \"abc123XYZ\"}]</s>[TOOL_RESULTS] {\"content\": {\"temperature\": 18}, \"call_id\": \"abc123XYZ\"}[/TOOL_RESULTS]";
        assertEquals(expected, new MistralToolFormat().render(weatherConversation("abc123XYZ"), TOOLS, "<s>", "</s>"));
    }

    @Test
    void mistralShortensOpenAiIdsToNineAlphanumericsForTheCallAndItsResult() {
        String rendered = new MistralToolFormat().render(weatherConversation("call_Q1w2E3r4T5y6U7i8"), TOOLS, "<s>", "</s>");
        assertTrue(rendered.contains(", \"id\": \"4T5y6U7i8\"}]</s>"), rendered);
        assertTrue(rendered.contains(", \"call_id\": \"4T5y6U7i8\"}[/TOOL_RESULTS]"), rendered);
        var e = assertThrows(IllegalArgumentException.class,
                () -> new MistralToolFormat().render(weatherConversation("c_1"), TOOLS, "<s>", "</s>"));
        assertTrue(e.getMessage().contains("nine"), e.getMessage());
    }

    @Test
    void mistralRefusesRolesOutOfOrder() {
        var e = assertThrows(IllegalArgumentException.class, () -> new MistralToolFormat().render(List.of(
                new ChatTemplate.Message("user", "a"), new ChatTemplate.Message("user", "b")), TOOLS, "<s>", "</s>"));
        assertTrue(e.getMessage().contains("alternate"), e.getMessage());
    }

    @Test
    void theFamilyComesFromTheTemplatesMarkers() {
        assertEquals("llama3", ToolCallFormat.forTemplate(ChatTemplateTest.LLAMA3).name());
        assertEquals("hermes", ToolCallFormat.forTemplate(ChatTemplateTest.CHATML).name());
        assertEquals("mistral", ToolCallFormat.forTemplate("{{ bos_token }}{% if tools %}[AVAILABLE_TOOLS]{% endif %}").name());
        assertEquals(HermesToolFormat.QWEN25, ToolCallFormat.forTemplate("{{- 'You are Qwen, created by Alibaba Cloud. "
                + "You are a helpful assistant.' }}"));
        assertEquals(HermesToolFormat.CHATML, ToolCallFormat.forTemplate(null));
        assertEquals(HermesToolFormat.CHATML, ToolCallFormat.forTemplate(ChatTemplateTest.LLAMA2)); // no tool format of its own
    }

    @Test
    void llama32DatesThePromptToday() {
        String rendered = ToolCallFormat.forTemplate("<|start_header_id|>{{ strftime_now('%d %b %Y') }}")
                .render(List.of(new ChatTemplate.Message("user", "hi")), TOOLS, "", "");
        assertTrue(rendered.contains("Today Date: " + ToolCallFormat.today() + "\n\n"), rendered);
        assertTrue(ToolCallFormat.today().matches("\\d\\d [A-Z][a-z][a-z] \\d{4}"), ToolCallFormat.today());
    }

    @Test
    void chatsWithoutToolsRenderAsBeforeAndToolsGoThroughTheFamilyFormat() {
        ChatTemplate llama = new ChatTemplate(ChatTemplateTest.LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
        List<ChatTemplate.Message> hello = List.of(new ChatTemplate.Message("user", "Hi there"));
        assertEquals(llama.render(hello), llama.render(hello, List.of()));
        String withTools = llama.render(hello, TOOLS);
        assertTrue(withTools.startsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n"),
                withTools);
        assertTrue(withTools.contains("\"name\": \"get_time\""), withTools);
    }

    @Test
    void forcedCallsUseEachFamilysCallShape() {
        ForcedToolCall hermes = HermesToolFormat.QWEN25.forcedCall(List.of(TOOLS.getFirst()), true);
        assertEquals("<tool_call>\n", hermes.prefix());
        assertEquals("{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_weather\"},\"arguments\":"
                + TOOLS.getFirst().parameters() + "},\"required\":[\"name\",\"arguments\"],\"additionalProperties\":false}",
                hermes.schema().toString());
        ForcedToolCall llama = new Llama3ToolFormat(null).forcedCall(TOOLS, true);
        assertEquals("", llama.prefix());
        assertEquals(2, llama.schema().get("anyOf").size());
        assertEquals("get_time", llama.schema().get("anyOf").get(1).get("properties").get("name").get("const").textValue());
        assertTrue(llama.schema().get("anyOf").get(0).get("properties").has("parameters"));
        ForcedToolCall mistral = new MistralToolFormat().forcedCall(TOOLS, false);
        assertEquals("[TOOL_CALLS] ", mistral.prefix());
        assertEquals("array", mistral.schema().get("type").textValue());
        assertEquals(1, mistral.schema().get("maxItems").intValue());
        JsonNode item = mistral.schema().get("items");
        assertEquals(2, item.get("anyOf").size());
    }

    @Test
    void templateJsonSpellsValuesAsPython() {
        assertEquals("{\"a\": [1, 2.5, true, null], \"b\": {}, \"c\": \"é\\n\\\"\"}",
                TemplateJson.dumps(TemplateJson.parse("{\"a\":[1,2.5,true,null],\"b\":{},\"c\":\"é\\n\\\"\"}")));
        assertEquals("{\n  \"a\": [\n    1\n  ],\n  \"b\": []\n}", TemplateJson.dumps(TemplateJson.parse("{\"a\":[1],\"b\":[]}"), 2));
        assertEquals("1e-05", TemplateJson.pythonFloat(1e-5));
        assertEquals("0.0001", TemplateJson.pythonFloat(1e-4));
        assertEquals("10000000.0", TemplateJson.pythonFloat(1e7));
        assertEquals("1e+16", TemplateJson.pythonFloat(1e16));
        assertEquals("1.5", TemplateJson.pythonFloat(1.5));
    }
}
