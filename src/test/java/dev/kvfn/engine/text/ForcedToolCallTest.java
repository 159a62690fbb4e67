package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvfn.engine.structured.ConstraintCursor;
import dev.kvfn.engine.structured.SchemaCheck;
import dev.kvfn.engine.structured.StructuredOutput;
import dev.kvfn.engine.structured.TokenConstraint;
import dev.kvfn.model.GgufFile;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each family's forced call, end to end below the API: the constraint compiled from {@link ForcedToolCall#schema}
 * over a real vocabulary (stories260K's), random walks through what it allows (any allowed token, so far stranger
 * output than a model's), and the parser seeded with the prompted prefix: every walk must come back as calls of
 * the allowed functions whose arguments validate against their parameters (networknt).
 */
class ForcedToolCallTest {
    static final String WEATHER = """
            {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8}, "days": {"type": "integer"},
             "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["city"], "additionalProperties": false}""";
    static final String TIME = """
            {"type": "object", "properties": {"zone": {"type": "string", "maxLength": 5}, "dst": {"type": "boolean"}},
             "required": ["zone", "dst"]}""";
    static final Map<String, String> PARAMS = Map.of("get_weather", WEATHER, "get_time", TIME);

    static Tokenizer tokenizer() {
        String dir = System.getProperty("kvfn.shared.models");
        Assumptions.assumeTrue(dir != null, "system property kvfn.shared.models is not set");
        Path p = Path.of(dir).resolve("stories260K.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(p), p + " is absent");
        try (GgufFile gguf = GgufFile.open(p)) {
            return Tokenizers.fromGguf(gguf);
        }
    }

    static ToolDefinition tool(String name, String parameters) {
        ObjectNode tool = (ObjectNode) SchemaCheck.parse("{\"type\": \"function\", \"function\": {\"name\": \"" + name
                + "\", \"parameters\": " + parameters + "}}");
        return new ToolDefinition(name, tool.at("/function/parameters"), tool);
    }

    static final List<ToolDefinition> BOTH = List.of(tool("get_weather", WEATHER), tool("get_time", TIME));

    /** One random walk through the constraint until it ends the output; the bytes written. */
    static String walk(TokenConstraint c, Tokenizer tok, SplittableRandom rnd) {
        ConstraintCursor cursor = c.start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        float[] logits = new float[tok.vocabSize()];
        for (int step = 0; step < 5000; step++) {
            java.util.Arrays.fill(logits, 0f);
            cursor.mask(logits);
            List<Integer> allowed = new ArrayList<>();
            int end = -1;
            for (int t = 0; t < logits.length; t++) {
                if (logits[t] != 0f) continue;
                if (tok.isEndOfGeneration(t)) end = t;
                else allowed.add(t);
            }
            if (end >= 0 && (allowed.isEmpty() || rnd.nextInt(3) == 0)) {
                assertTrue(cursor.complete(), "the end comes only after a whole call: " + out);
                cursor.advance(end);
                return out.toString(StandardCharsets.UTF_8);
            }
            assertTrue(!allowed.isEmpty(), "something is allowed after " + out);
            int pick = allowed.get(rnd.nextInt(allowed.size()));
            cursor.advance(pick);
            out.writeBytes(tok.tokenBytes(pick));
        }
        throw new AssertionError("the walk did not end: " + out);
    }

    /** Walks of a family's forced call, each parsed after the prompted prefix: calls of {@code allowed}, valid. */
    static void forced(ToolCallFormat format, List<ToolDefinition> tools, List<String> allowed, boolean parallel, int maxCalls) {
        Tokenizer tok = tokenizer();
        List<ToolDefinition> subset = tools.stream().filter(t -> allowed.contains(t.name())).toList();
        ForcedToolCall forced = format.forcedCall(subset, parallel);
        TokenConstraint c = StructuredOutput.jsonSchema(forced.schema(), tok);
        SplittableRandom rnd = new SplittableRandom(format.name().hashCode());
        Set<String> seen = new java.util.HashSet<>();
        for (int w = 0; w < 40; w++) {
            String text = walk(c, tok, rnd);
            ToolCallParser parser = new ToolCallParser(format.syntax(), Set.of("get_weather", "get_time"), Integer.MAX_VALUE);
            parser.afterPrompted(forced.prefix());
            List<ToolCallParser.Event> events = new ArrayList<>(parser.feed(text));
            events.addAll(parser.finish());
            assertTrue(!events.isEmpty(), text);
            assertTrue(events.size() <= maxCalls, text);
            for (ToolCallParser.Event e : events) {
                assertTrue(e instanceof ToolCallParser.Call, "a call, not content: " + e + " from " + text);
                ToolCall call = ((ToolCallParser.Call) e).call();
                assertTrue(allowed.contains(call.name()), call.name());
                seen.add(call.name());
                assertEquals(List.of(), SchemaCheck.problems(PARAMS.get(call.name()), call.argumentsJson()), text);
            }
        }
        assertEquals(Set.copyOf(allowed), seen, "every allowed function came up in 40 walks");
    }

    @Test
    void hermesRequiredAndNamed() {
        forced(HermesToolFormat.CHATML, BOTH, List.of("get_weather", "get_time"), true, 1);
        forced(HermesToolFormat.QWEN25, BOTH, List.of("get_time"), true, 1);
        assertEquals("<tool_call>\n", HermesToolFormat.CHATML.forcedCall(BOTH, true).prefix());
    }

    @Test
    void llama3RequiredAndNamed() {
        Llama3ToolFormat llama = new Llama3ToolFormat(Llama3ToolFormat.LLAMA31_DATE);
        forced(llama, BOTH, List.of("get_weather", "get_time"), true, 1);
        forced(llama, BOTH, List.of("get_weather"), false, 1);
        assertEquals("", llama.forcedCall(BOTH, true).prefix());
    }

    @Test
    void mistralRequiredAndNamedWithParallelCalls() {
        MistralToolFormat mistral = new MistralToolFormat();
        forced(mistral, BOTH, List.of("get_weather", "get_time"), true, Integer.MAX_VALUE);
        forced(mistral, BOTH, List.of("get_time"), false, 1); // maxItems 1 without parallel calls
        assertEquals("[TOOL_CALLS] ", mistral.forcedCall(BOTH, true).prefix());
    }
}
