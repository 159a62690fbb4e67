package dev.kvfn.function.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvfn.engine.structured.StructuredOutput;
import dev.kvfn.engine.structured.TokenConstraint;
import dev.kvfn.engine.text.ChatTemplate;
import dev.kvfn.engine.text.ForcedToolCall;
import dev.kvfn.engine.text.TemplateJson;
import dev.kvfn.engine.text.ToolCall;
import dev.kvfn.engine.text.ToolCallFormat;
import dev.kvfn.engine.text.ToolCallParser;
import dev.kvfn.engine.text.ToolDefinition;
import dev.kvfn.function.BadRequestException;
import dev.kvfn.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * OpenAI's function calling on {@code /v1/chat/completions}: checks {@code tools}, {@code tool_choice},
 * {@code parallel_tool_calls} and the tool traffic in {@code messages}; renders them through the model family's
 * {@link ToolCallFormat}; turns the output into {@code message.tool_calls} (or, streaming, into OpenAI's
 * {@code delta.tool_calls} chunks) with {@code finish_reason: "tool_calls"}.
 */
final class ToolCalls {
    /** OpenAI's rule for function names. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final int MAX_TOOLS = 128; // OpenAI's limit

    private enum Choice { NONE, AUTO, REQUIRED, NAMED }

    private final List<ToolDefinition> tools;
    private final Choice choice;
    private final String named;      // the function tool_choice names, for NAMED
    private final boolean parallel;
    private final ToolCallFormat format;

    private ToolCalls(List<ToolDefinition> tools, Choice choice, String named, boolean parallel, ToolCallFormat format) {
        this.tools = tools;
        this.choice = choice;
        this.named = named;
        this.parallel = parallel;
        this.format = format;
    }

    /** Checks the request's tool fields (400 naming the field when one is wrong). */
    static ToolCalls of(JsonNode toolsNode, JsonNode choiceNode, Boolean parallelToolCalls, ChatTemplate template) {
        List<ToolDefinition> tools = definitions(toolsNode);
        Choice choice = tools.isEmpty() ? Choice.NONE : Choice.AUTO;
        String named = null;
        if (choiceNode != null && !choiceNode.isNull()) {
            if (choiceNode.isTextual()) {
                choice = switch (choiceNode.textValue()) {
                    case "none" -> Choice.NONE;
                    case "auto" -> Choice.AUTO;
                    case "required" -> Choice.REQUIRED;
                    default -> throw new BadRequestException("\"tool_choice\" must be \"none\", \"auto\", \"required\" or "
                            + "{\"type\": \"function\", \"function\": {\"name\": ...}}, got \"" + choiceNode.textValue() + "\"");
                };
            } else if (choiceNode.isObject() && "function".equals(choiceNode.path("type").asText(null))
                    && choiceNode.path("function").path("name").isTextual()) {
                choice = Choice.NAMED;
                named = choiceNode.path("function").path("name").textValue();
                String wanted = named;
                if (tools.stream().noneMatch(t -> t.name().equals(wanted))) {
                    throw new BadRequestException("\"tool_choice.function.name\": no function \"" + named + "\" in \"tools\"");
                }
            } else {
                throw new BadRequestException("\"tool_choice\" must be \"none\", \"auto\", \"required\" or "
                        + "{\"type\": \"function\", \"function\": {\"name\": ...}}");
            }
            if (tools.isEmpty() && choice != Choice.NONE) {
                throw new BadRequestException("\"tool_choice\" is only allowed when \"tools\" are specified");
            }
        }
        return new ToolCalls(tools, choice, named, parallelToolCalls == null || parallelToolCalls, template.toolFormat());
    }

    /** Whether {@code tool_choice} forces a call. */
    boolean forces() {
        return choice == Choice.REQUIRED || choice == Choice.NAMED;
    }

    /** The prefix and schema that force the call {@code tool_choice} asks for (null when it forces none). */
    ForcedToolCall forcedCall() {
        if (!forces()) return null;
        List<ToolDefinition> allowed = choice == Choice.NAMED
                ? tools.stream().filter(t -> t.name().equals(named)).toList() : tools;
        return format.forcedCall(allowed, parallel);
    }

    /**
     * The output constraint that forces the call (null when none is forced): the family's call prefix goes into the
     * prompt ({@link #promptSuffix()}), since a control token such as {@code <tool_call>} writes no bytes a
     * constraint could allow; the output is then the call's JSON, ended by the end-of-generation token. A forced call
     * wins over {@code response_format}: while a call is forced the output is the call.
     */
    TokenConstraint constraint(Tokenizer tokenizer) {
        ForcedToolCall forced = forcedCall();
        if (forced == null) return null;
        try {
            return StructuredOutput.jsonSchema(forced.schema(), tokenizer);
        } catch (IllegalArgumentException e) {
            String culprit = culprit(tokenizer);
            throw new BadRequestException("\"" + culprit + "\": cannot force a call of this function: "
                    + e.getMessage() + "; use \"tool_choice\": \"auto\"", culprit);
        }
    }

    /** The parameters the constraint compiler refused, named for the 400 (each checked alone; only on failure). */
    private String culprit(Tokenizer tokenizer) {
        for (int i = 0; i < tools.size(); i++) {
            ToolDefinition t = tools.get(i);
            if (choice == Choice.NAMED && !t.name().equals(named)) continue;
            try {
                StructuredOutput.jsonSchema(t.parameters(), tokenizer);
            } catch (IllegalArgumentException e) {
                return "tools[" + i + "].function.parameters";
            }
        }
        return "tool_choice";
    }

    /** What the prompt ends with when a call is forced (the family's call prefix), else "". */
    String promptSuffix() {
        ForcedToolCall forced = forcedCall();
        return forced == null ? "" : forced.prefix();
    }

    private static List<ToolDefinition> definitions(JsonNode node) {
        if (node == null || node.isNull()) return List.of();
        if (!node.isArray()) throw new BadRequestException("\"tools\" must be an array of {\"type\": \"function\", \"function\": {...}}");
        if (node.size() > MAX_TOOLS) throw new BadRequestException("\"tools\": at most " + MAX_TOOLS + " functions, got " + node.size());
        List<ToolDefinition> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < node.size(); i++) {
            String at = "tools[" + i + "]";
            JsonNode t = node.get(i);
            if (!t.isObject()) throw new BadRequestException("\"" + at + "\" must be an object");
            if (!"function".equals(t.path("type").asText(null))) {
                throw new BadRequestException("\"" + at + ".type\" must be \"function\" (the only tool type supported)");
            }
            JsonNode f = t.get("function");
            if (f == null || !f.isObject()) throw new BadRequestException("\"" + at + ".function\" must be an object");
            JsonNode name = f.get("name");
            if (name == null || !name.isTextual() || !NAME.matcher(name.textValue()).matches()) {
                throw new BadRequestException("\"" + at + ".function.name\" must be 1 to 64 letters, digits, '_' or '-'");
            }
            if (!seen.add(name.textValue())) {
                throw new BadRequestException("\"" + at + ".function.name\": \"" + name.textValue() + "\" is declared twice");
            }
            JsonNode description = f.get("description");
            if (description != null && !description.isNull() && !description.isTextual()) {
                throw new BadRequestException("\"" + at + ".function.description\" must be a string");
            }
            JsonNode parameters = f.get("parameters");
            if (parameters != null && !parameters.isNull()) {
                if (!parameters.isObject()) throw new BadRequestException("\"" + at + ".function.parameters\" must be a JSON schema object");
                JsonNode type = parameters.get("type");
                if (type != null && !"object".equals(type.asText())) {
                    throw new BadRequestException("\"" + at + ".function.parameters.type\" must be \"object\" (arguments are a JSON object)");
                }
            } else {
                parameters = JsonNodeFactory.instance.objectNode().put("type", "object")
                        .set("properties", JsonNodeFactory.instance.objectNode());
            }
            JsonNode strict = f.get("strict");
            if (strict != null && !strict.isNull() && !strict.isBoolean()) {
                throw new BadRequestException("\"" + at + ".function.strict\" must be a boolean");
            }
            out.add(new ToolDefinition(name.textValue(), parameters, (ObjectNode) t.deepCopy()));
        }
        return out;
    }

    /** One of {@code messages}, with its tool traffic checked ({@code messages[index]...} named when wrong). */
    static ChatTemplate.Message message(int index, String role, String content, JsonNode toolCalls, String toolCallId) {
        String at = "messages[" + index + "]";
        List<ToolCall> calls = new ArrayList<>();
        if (toolCalls != null && !toolCalls.isNull()) {
            if (!"assistant".equals(role)) throw new BadRequestException("\"" + at + ".tool_calls\": only assistant messages make tool calls");
            if (!toolCalls.isArray()) throw new BadRequestException("\"" + at + ".tool_calls\" must be an array");
            for (int c = 0; c < toolCalls.size(); c++) {
                String cat = at + ".tool_calls[" + c + "]";
                JsonNode call = toolCalls.get(c);
                JsonNode id = call.get("id");
                if (id == null || !id.isTextual() || id.textValue().isEmpty()) throw new BadRequestException("\"" + cat + ".id\" must be a non-empty string");
                JsonNode type = call.get("type");
                if (type != null && !"function".equals(type.asText())) throw new BadRequestException("\"" + cat + ".type\" must be \"function\"");
                JsonNode name = call.path("function").get("name");
                if (name == null || !name.isTextual() || name.textValue().isEmpty()) {
                    throw new BadRequestException("\"" + cat + ".function.name\" must be a non-empty string");
                }
                JsonNode arguments = call.path("function").get("arguments");
                JsonNode parsed = arguments != null && arguments.isTextual() ? TemplateJson.parse(arguments.textValue()) : null;
                if (parsed == null || !parsed.isObject()) {
                    throw new BadRequestException("\"" + cat + ".function.arguments\" must be a JSON object encoded as a string");
                }
                calls.add(new ToolCall(id.textValue(), name.textValue(), (ObjectNode) parsed));
            }
        }
        if ("tool".equals(role)) {
            if (toolCallId == null || toolCallId.isEmpty()) throw new BadRequestException("\"" + at + ".tool_call_id\" is required for a tool message");
        } else if (toolCallId != null) {
            throw new BadRequestException("\"" + at + ".tool_call_id\" belongs on tool messages only");
        }
        return new ChatTemplate.Message(role, content, calls, "tool".equals(role) ? toolCallId : null);
    }

    /** The prompt: the tools are left out when {@code tool_choice} is "none" (the model is not to call any). */
    String render(ChatTemplate template, List<ChatTemplate.Message> messages) {
        return template.render(messages, choice == Choice.NONE ? List.of() : tools);
    }

    /** Whether the output is parsed for calls. */
    boolean active() {
        return choice != Choice.NONE;
    }

    private ToolCallParser parser() {
        Set<String> names = new HashSet<>();
        for (ToolDefinition t : tools) names.add(t.name());
        ToolCallParser parser = new ToolCallParser(format.syntax(), names, parallel ? Integer.MAX_VALUE : 1);
        parser.afterPrompted(promptSuffix()); // a forced call's prefix is in the prompt: the output continues it
        return parser;
    }

    /** A whole response's message and finish reason. */
    record Reply(Map<String, Object> message, String finishReason) {}

    /** The output of a non-streamed request as OpenAI's {@code message}; {@code finishReason} "stop" or "length". */
    Reply reply(String text, String finishReason) {
        ToolCallParser parser = parser();
        List<ToolCallParser.Event> events = new ArrayList<>(parser.feed(text));
        events.addAll(parser.finish());
        StringBuilder content = new StringBuilder();
        List<Object> calls = new ArrayList<>();
        for (ToolCallParser.Event e : events) {
            switch (e) {
                case ToolCallParser.Content c -> content.append(c.text());
                case ToolCallParser.Call c -> calls.add(OpenAiResource.fields("id", c.call().id(), "type", "function",
                        "function", OpenAiResource.fields("name", c.call().name(), "arguments", c.call().argumentsJson())));
            }
        }
        Map<String, Object> message = OpenAiResource.fields("role", "assistant",
                "content", calls.isEmpty() || !content.toString().isBlank() ? content.toString() : null);
        if (calls.isEmpty()) return new Reply(message, finishReason);
        message.put("tool_calls", calls);
        return new Reply(message, reason(finishReason, calls.size()));
    }

    private static String reason(String finishReason, int calls) {
        return calls > 0 && "stop".equals(finishReason) ? "tool_calls" : finishReason;
    }

    /** A streamed response's deltas. */
    Deltas deltas() {
        return new Deltas(parser());
    }

    /**
     * The deltas of one stream as OpenAI sends them: the role in the first delta only, content as it comes, and
     * each call as one delta with its index, id, type, name and empty arguments, then its arguments.
     */
    static final class Deltas {
        private final ToolCallParser parser;
        private boolean roleSent;

        private Deltas(ToolCallParser parser) {
            this.parser = parser;
        }

        /** The deltas that text from the engine completes (often none while a call is being held). */
        List<Map<String, Object>> onText(String text) {
            return deltas(parser.feed(text));
        }

        /** The deltas still held when the generation ended. */
        List<Map<String, Object>> finish() {
            return deltas(parser.finish());
        }

        /** The stream's finish reason, given the generation's ("stop" or "length"). */
        String finishReason(String generation) {
            return reason(generation, parser.calls());
        }

        private List<Map<String, Object>> deltas(List<ToolCallParser.Event> events) {
            List<Map<String, Object>> out = new ArrayList<>(events.size() + 1);
            for (ToolCallParser.Event e : events) {
                switch (e) {
                    case ToolCallParser.Content c -> out.add(first(OpenAiResource.fields("content", c.text())));
                    case ToolCallParser.Call c -> {
                        out.add(first(OpenAiResource.fields("tool_calls", List.of(OpenAiResource.fields("index", c.index(),
                                "id", c.call().id(), "type", "function",
                                "function", OpenAiResource.fields("name", c.call().name(), "arguments", ""))))));
                        out.add(OpenAiResource.fields("tool_calls", List.of(OpenAiResource.fields("index", c.index(),
                                "function", OpenAiResource.fields("arguments", c.call().argumentsJson())))));
                    }
                }
            }
            return out;
        }

        /** The first delta of the stream carries the role (and, when it opens with a call, a null content). */
        private Map<String, Object> first(Map<String, Object> delta) {
            if (roleSent) return delta;
            roleSent = true;
            Map<String, Object> withRole = new LinkedHashMap<>();
            withRole.put("role", "assistant");
            if (!delta.containsKey("content")) withRole.put("content", null);
            withRole.putAll(delta);
            return withRole;
        }
    }
}
