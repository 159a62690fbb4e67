package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;

/**
 * Mistral's v3 tool calling (Mistral 7B Instruct v0.3, Nemo), as its template writes it: the tools as
 * {@code [AVAILABLE_TOOLS] [...][/AVAILABLE_TOOLS]} just before the last user turn (which also carries the system
 * prompt), the assistant's calls as {@code [TOOL_CALLS] [{"name": ..., "arguments": {...}, "id": ...}]</s>},
 * each result as {@code [TOOL_RESULTS] {"content": ..., "call_id": ...}[/TOOL_RESULTS]}. Call ids are nine
 * alphanumerics in this format: longer client ids (OpenAI's {@code call_...}) are shortened to their last nine
 * alphanumerics, consistently for the call and its result, as vLLM does.
 */
public final class MistralToolFormat implements ToolCallFormat {
    static final ToolCallSyntax SYNTAX = new ToolCallSyntax("[TOOL_CALLS]", null, '[', 9);

    @Override
    public String name() {
        return "mistral";
    }

    @Override
    public ToolCallSyntax syntax() {
        return SYNTAX;
    }

    @Override
    public String render(List<ChatTemplate.Message> messages, List<ToolDefinition> tools, String bos, String eos) {
        int first = 0;
        String system = null;
        if (!messages.isEmpty() && "system".equals(messages.getFirst().role())) {
            system = messages.getFirst().content();
            first = 1;
        }
        int lastUser = -1;
        int turn = 0; // user/assistant alternation, tool traffic aside
        for (int i = first; i < messages.size(); i++) {
            ChatTemplate.Message m = messages.get(i);
            if ("user".equals(m.role())) lastUser = i;
            if ("tool".equals(m.role()) || !m.toolCalls().isEmpty()) continue;
            if ("user".equals(m.role()) != (turn % 2 == 0)) {
                throw new IllegalArgumentException("After the optional system message, conversation roles must alternate "
                        + "user/assistant/user/assistant/...");
            }
            turn++;
        }
        StringBuilder sb = new StringBuilder(bos);
        for (int i = first; i < messages.size(); i++) {
            ChatTemplate.Message m = messages.get(i);
            if ("user".equals(m.role())) {
                if (!tools.isEmpty() && i == lastUser) availableTools(sb, tools);
                sb.append("[INST] ");
                if (i == lastUser && system != null) sb.append(system).append("\n\n");
                sb.append(m.content()).append("[/INST]");
            } else if ("assistant".equals(m.role()) && !m.toolCalls().isEmpty()) {
                sb.append("[TOOL_CALLS] [");
                for (int c = 0; c < m.toolCalls().size(); c++) {
                    ToolCall call = m.toolCalls().get(c);
                    if (c > 0) sb.append(", ");
                    sb.append("{\"name\": ").append(TemplateJson.quote(call.name())).append(", \"arguments\": ")
                            .append(TemplateJson.dumps(call.arguments())).append(", \"id\": \"").append(callId(call.id()))
                            .append("\"}");
                }
                sb.append(']').append(eos);
            } else if ("assistant".equals(m.role())) {
                sb.append(' ').append(m.content().strip()).append(eos);
            } else if ("tool".equals(m.role())) {
                sb.append("[TOOL_RESULTS] {\"content\": ").append(m.content()).append(", \"call_id\": \"")
                        .append(callId(m.toolCallId())).append("\"}[/TOOL_RESULTS]");
            } else {
                throw new IllegalArgumentException("Only user and assistant roles are supported, with the exception of an "
                        + "initial optional system message!");
            }
        }
        return sb.toString();
    }

    /** Each function's fields in the client's order, but {@code "return"}; strings as they are, the rest as JSON. */
    private static void availableTools(StringBuilder sb, List<ToolDefinition> tools) {
        sb.append("[AVAILABLE_TOOLS] [");
        for (int t = 0; t < tools.size(); t++) {
            if (t > 0) sb.append(", ");
            sb.append("{\"type\": \"function\", \"function\": {");
            boolean firstField = true;
            for (Map.Entry<String, JsonNode> e : tools.get(t).function().properties()) {
                if (e.getKey().equals("return")) continue;
                if (!firstField) sb.append(", ");
                firstField = false;
                // the template pastes string values between quotes unescaped; escaping keeps the JSON valid and is
                // identical for every string without quotes, backslashes or control characters
                sb.append(TemplateJson.quote(e.getKey())).append(": ").append(TemplateJson.dumps(e.getValue()));
            }
            sb.append("}}");
        }
        sb.append("][/AVAILABLE_TOOLS]");
    }

    /** The template accepts only nine alphanumerics: a longer id becomes its last nine alphanumerics. */
    static String callId(String id) {
        String alnum = id == null ? "" : id.replaceAll("[^A-Za-z0-9]", "");
        if (alnum.length() < 9) {
            throw new IllegalArgumentException("tool call id \"" + id + "\": this model's format needs ids with at least "
                    + "nine letters or digits");
        }
        return alnum.substring(alnum.length() - 9);
    }

    @Override
    public ForcedToolCall forcedCall(List<ToolDefinition> allowed, boolean parallel) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode schema = f.objectNode().put("type", "array");
        schema.set("items", ToolCallFormat.anyCallSchema(allowed, "arguments"));
        schema.put("minItems", 1);
        if (!parallel) schema.put("maxItems", 1);
        return new ForcedToolCall("[TOOL_CALLS] ", schema);
    }
}
