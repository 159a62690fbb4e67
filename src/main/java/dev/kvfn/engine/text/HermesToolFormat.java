package dev.kvfn.engine.text;

import java.util.List;

/**
 * Qwen 2.5 / Hermes style, in ChatML: the tools as JSON lines inside {@code <tools></tools>} in the system
 * turn, each call as {@code <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>} in the assistant turn
 * (several per turn), results as {@code <tool_response>} blocks in one user turn. Written as Qwen 2.5's
 * template writes it; {@link #QWEN25} adds that template's default system prompt, {@link #CHATML} (kvfn's
 * fallback for models without a template or of another family) has none, as Qwen 3's template.
 */
public final class HermesToolFormat implements ToolCallFormat {
    static final String QWEN25_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

    public static final HermesToolFormat QWEN25 = new HermesToolFormat(QWEN25_SYSTEM);
    public static final HermesToolFormat CHATML = new HermesToolFormat(null);

    static final ToolCallSyntax SYNTAX = new ToolCallSyntax("<tool_call>", "</tool_call>", (char) 0, 0);

    private final String defaultSystem; // null: none

    private HermesToolFormat(String defaultSystem) {
        this.defaultSystem = defaultSystem;
    }

    @Override
    public String name() {
        return "hermes";
    }

    @Override
    public ToolCallSyntax syntax() {
        return SYNTAX;
    }

    @Override
    public String render(List<ChatTemplate.Message> messages, List<ToolDefinition> tools, String bos, String eos) {
        StringBuilder sb = new StringBuilder();
        boolean system = !messages.isEmpty() && "system".equals(messages.getFirst().role());
        String systemText = system ? messages.getFirst().content() : defaultSystem;
        if (!tools.isEmpty()) {
            sb.append("<|im_start|>system\n");
            if (systemText != null) sb.append(systemText).append("\n\n");
            sb.append("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                    + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
            for (ToolDefinition t : tools) sb.append('\n').append(TemplateJson.dumps(t.tool()));
            sb.append("\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
                    + "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                    + "<args-json-object>}\n</tool_call><|im_end|>\n");
        } else if (systemText != null) {
            sb.append("<|im_start|>system\n").append(systemText).append("<|im_end|>\n");
        }
        for (int i = system ? 1 : 0; i < messages.size(); i++) {
            ChatTemplate.Message m = messages.get(i);
            if ("tool".equals(m.role())) {
                // consecutive results share one user turn
                if (i == 0 || !"tool".equals(messages.get(i - 1).role())) sb.append("<|im_start|>user");
                sb.append("\n<tool_response>\n").append(m.content()).append("\n</tool_response>");
                if (i == messages.size() - 1 || !"tool".equals(messages.get(i + 1).role())) sb.append("<|im_end|>\n");
            } else if ("assistant".equals(m.role()) && !m.toolCalls().isEmpty()) {
                sb.append("<|im_start|>assistant");
                if (!m.content().isEmpty()) sb.append('\n').append(m.content());
                for (ToolCall c : m.toolCalls()) {
                    sb.append("\n<tool_call>\n{\"name\": \"").append(c.name()).append("\", \"arguments\": ")
                            .append(TemplateJson.dumps(c.arguments())).append("}\n</tool_call>");
                }
                sb.append("<|im_end|>\n");
            } else {
                sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
            }
        }
        return sb.append("<|im_start|>assistant\n").toString();
    }

    @Override
    public ForcedToolCall forcedCall(List<ToolDefinition> allowed, boolean parallel) {
        // one block; the parser accepts it unclosed when the constrained output ends with the JSON object
        return new ForcedToolCall("<tool_call>\n", ToolCallFormat.anyCallSchema(allowed, "arguments"));
    }
}
