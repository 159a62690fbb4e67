package dev.kvfn.engine.text;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model-like outputs of each family, whole and streamed in pieces, well-formed and not. */
class ToolCallParserTest {
    static final Set<String> NAMES = Set.of("get_weather", "get_time");

    /** What a parser made of an output: the content, and each call as name + arguments JSON. */
    record Parsed(String content, List<String> calls, List<String> ids) {}

    static Parsed parse(ToolCallSyntax syntax, int maxCalls, List<String> pieces) {
        ToolCallParser p = new ToolCallParser(syntax, NAMES, maxCalls);
        List<ToolCallParser.Event> events = new ArrayList<>();
        for (String piece : pieces) events.addAll(p.feed(piece));
        events.addAll(p.finish());
        return collect(events);
    }

    static Parsed collect(List<ToolCallParser.Event> events) {
        StringBuilder content = new StringBuilder();
        List<String> calls = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        int index = 0;
        for (ToolCallParser.Event e : events) {
            switch (e) {
                case ToolCallParser.Content c -> content.append(c.text());
                case ToolCallParser.Call c -> {
                    assertEquals(index++, c.index());
                    calls.add(c.call().name() + " " + c.call().argumentsJson());
                    ids.add(c.call().id());
                }
            }
        }
        return new Parsed(content.toString(), calls, ids);
    }

    /** The output parsed whole, character by character, and split in two at every position: always the same. */
    static Parsed parseEveryWay(ToolCallSyntax syntax, String output) {
        Parsed whole = parse(syntax, Integer.MAX_VALUE, List.of(output));
        List<String> chars = output.chars().mapToObj(c -> String.valueOf((char) c)).toList();
        assertSame(whole, parse(syntax, Integer.MAX_VALUE, chars), "char by char");
        for (int i = 1; i < output.length(); i++) {
            assertSame(whole, parse(syntax, Integer.MAX_VALUE, List.of(output.substring(0, i), output.substring(i))), "split at " + i);
        }
        return whole;
    }

    static void assertSame(Parsed expected, Parsed actual, String how) {
        assertEquals(expected.content(), actual.content(), how);
        assertEquals(expected.calls(), actual.calls(), how);
    }

    @Test
    void hermesCall() {
        Parsed p = parseEveryWay(HermesToolFormat.SYNTAX, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
        assertEquals("", p.content());
        assertEquals(List.of("get_weather {\"city\": \"Paris\"}"), p.calls());
        assertTrue(p.ids().getFirst().matches("call_[A-Za-z0-9]{24}"), p.ids().getFirst());
    }

    @Test
    void hermesContentThenParallelCalls() {
        Parsed p = parseEveryWay(HermesToolFormat.SYNTAX, "Let me check both.\n<tool_call>\n{\"name\": \"get_weather\", "
                + "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
                + "{\"zone\": \"Europe/Paris\"}}\n</tool_call>");
        assertEquals("Let me check both.", p.content());
        assertEquals(List.of("get_weather {\"city\": \"Paris\"}", "get_time {\"zone\": \"Europe/Paris\"}"), p.calls());
        assertEquals(2, Set.copyOf(p.ids()).size());
    }

    @Test
    void contentStreamsBeforeAnyMarkerAndOnlyAPossibleMarkerWaits() {
        ToolCallParser p = new ToolCallParser(HermesToolFormat.SYNTAX, NAMES, Integer.MAX_VALUE);
        assertEquals(List.of(new ToolCallParser.Content("Hello")), p.feed("Hello"));
        assertEquals(List.of(new ToolCallParser.Content(" world,")), p.feed(" world, <tool"));
        assertEquals(List.of(new ToolCallParser.Content(" <tools are fun")), p.feed("s are fun"));
        assertEquals(List.of(), p.feed("<tool_call>{\"name\": \"get_time\", "));
        assertEquals(List.of(), p.feed("\"arguments\": {\"zone\": \"UTC\"}}"));
        List<ToolCallParser.Event> call = p.feed("</tool_call>");
        assertEquals(1, call.size());
        assertEquals("get_time", ((ToolCallParser.Call) call.getFirst()).call().name());
        assertEquals(List.of(), p.finish());
        assertEquals(1, p.calls());
    }

    @Test
    void malformedCallsStayContentUnchanged() {
        for (String output : List.of(
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>", // bad JSON
                "<tool_call>\n{\"name\": \"launch_rocket\", \"arguments\": {}}\n</tool_call>",          // undeclared function
                "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",                      // no name
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": [1]}\n</tool_call>",             // arguments not an object
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par",              // cut off (length)
                "Sure.\n<tool_call>\n{\"name\": \"get_weather\"} trailing\n</tool_call> done")) {
            Parsed p = parseEveryWay(HermesToolFormat.SYNTAX, output);
            assertEquals(List.of(), p.calls(), output);
            assertEquals(output, p.content(), output);
        }
    }

    @Test
    void aGoodCallNextToABadOneIsKept() {
        String bad = "<tool_call>\n{\"name\": oops}\n</tool_call>";
        Parsed p = parseEveryWay(HermesToolFormat.SYNTAX, bad + "\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>");
        assertEquals(bad, p.content());
        assertEquals(List.of("get_time {}"), p.calls());
    }

    @Test
    void argumentsWrittenAsAStringAreAccepted() {
        Parsed p = parseEveryWay(HermesToolFormat.SYNTAX, "<tool_call>{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Oslo\\\"}\"}</tool_call>");
        assertEquals(List.of("get_weather {\"city\": \"Oslo\"}"), p.calls());
    }

    @Test
    void withoutParallelCallsOnlyTheFirstIsKept() {
        String two = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"A\"}}</tool_call>"
                + "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>";
        Parsed p = parse(HermesToolFormat.SYNTAX, 1, List.of(two));
        assertEquals(List.of("get_weather {\"city\": \"A\"}"), p.calls());
        assertEquals("", p.content());
    }

    @Test
    void llama3BareJsonCall() {
        Parsed p = parseEveryWay(Llama3ToolFormat.SYNTAX, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 3}}");
        assertEquals(List.of("get_weather {\"city\": \"Paris\", \"days\": 3}"), p.calls());
        assertEquals("", p.content());
        Parsed tagged = parseEveryWay(Llama3ToolFormat.SYNTAX, "<|python_tag|>{\"type\": \"function\", \"name\": \"get_time\", \"parameters\": {}}");
        assertEquals(List.of("get_time {}"), tagged.calls());
        Parsed spaced = parseEveryWay(Llama3ToolFormat.SYNTAX, "\n {\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}");
        assertEquals(List.of("get_time {\"zone\": \"UTC\"}"), spaced.calls());
        assertEquals("", spaced.content());
    }

    @Test
    void llama3TextIsContentAndBrokenJsonComesBackWhole() {
        ToolCallParser p = new ToolCallParser(Llama3ToolFormat.SYNTAX, NAMES, Integer.MAX_VALUE);
        assertEquals(List.of(new ToolCallParser.Content("It is")), p.feed("It is"));
        for (String output : List.of("The answer is {\"name\": \"get_time\"}", " {\"name\": \"get_time\", \"parameters\": {",
                "{\"weather\": \"sunny\"}")) {
            Parsed parsed = parseEveryWay(Llama3ToolFormat.SYNTAX, output);
            assertEquals(output, parsed.content());
            assertEquals(List.of(), parsed.calls());
        }
    }

    @Test
    void mistralCallsWithOrWithoutTheirMarkerText() {
        String calls = "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}]";
        for (String output : List.of("[TOOL_CALLS] " + calls, "[TOOL_CALLS]" + calls, " " + calls)) {
            Parsed p = parseEveryWay(MistralToolFormat.SYNTAX, output);
            assertEquals(List.of("get_weather {\"city\": \"Paris\"}", "get_time {\"zone\": \"CET\"}"), p.calls(), output);
            assertEquals("", p.content(), output);
            for (String id : p.ids()) assertTrue(id.matches("[A-Za-z0-9]{9}"), id);
        }
        Parsed list = parseEveryWay(MistralToolFormat.SYNTAX, "[1, 2, 3] are numbers");
        assertEquals("[1, 2, 3] are numbers", list.content());
    }

    @Test
    void aForcedPrefixFromThePromptOpensTheCall() {
        ForcedToolCall forced = HermesToolFormat.QWEN25.forcedCall(ToolCallFormatTest.TOOLS, true);
        ToolCallParser p = new ToolCallParser(HermesToolFormat.SYNTAX, NAMES, Integer.MAX_VALUE);
        p.afterPrompted(forced.prefix());
        List<ToolCallParser.Event> events = new ArrayList<>(p.feed("{\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}"));
        events.addAll(p.finish()); // constrained output ends with the JSON: no closing tag
        assertEquals(List.of("get_time {\"zone\": \"UTC\"}"), collect(events).calls());

        ToolCallParser broken = new ToolCallParser(HermesToolFormat.SYNTAX, NAMES, Integer.MAX_VALUE);
        broken.afterPrompted(forced.prefix());
        List<ToolCallParser.Event> rest = new ArrayList<>(broken.feed("{\"name\": \"get"));
        rest.addAll(broken.finish());
        assertEquals("\n{\"name\": \"get", collect(rest).content()); // the prompt's tag is no output of the model

        ToolCallParser mistral = new ToolCallParser(MistralToolFormat.SYNTAX, NAMES, 1);
        mistral.afterPrompted(new MistralToolFormat().forcedCall(ToolCallFormatTest.TOOLS, false).prefix());
        List<ToolCallParser.Event> m = new ArrayList<>(mistral.feed("[{\"name\": \"get_time\", \"arguments\": {}}]"));
        m.addAll(mistral.finish());
        assertEquals(List.of("get_time {}"), collect(m).calls());
    }
}
