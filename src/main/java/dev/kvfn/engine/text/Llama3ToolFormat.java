package dev.kvfn.engine.text;

import java.util.List;

/**
 * Llama 3.1 / 3.2 JSON tool calling, as their templates write it (custom tools in the first user message, the
 * default {@code tools_in_user_message}): the system turn announces {@code Environment: ipython}, the tools
 * follow an instruction at the top of the first user turn as 4-space-indented JSON, a call is the assistant
 * turn's whole text {@code {"name": ..., "parameters": {...}}} (one per turn), and a result is an {@code ipython}
 * turn holding the result as a JSON string. The model ends a call with {@code <|eom_id|>} or {@code <|eot_id|>};
 * both end generation (they are end-of-generation tokens in the vocabulary).
 */
public final class Llama3ToolFormat implements ToolCallFormat {
    static final String LLAMA31_DATE = "26 Jul 2024";
    static final ToolCallSyntax SYNTAX = new ToolCallSyntax("<|python_tag|>", null, '{', 0);

    private final String date; // null: today, as Llama 3.2's template

    /** @param date "Today Date" of the system turn; null for today's date (Llama 3.2) */
    public Llama3ToolFormat(String date) {
        this.date = date;
    }

    @Override
    public String name() {
        return "llama3";
    }

    @Override
    public ToolCallSyntax syntax() {
        return SYNTAX;
    }

    @Override
    public String render(List<ChatTemplate.Message> messages, List<ToolDefinition> tools, String bos, String eos) {
        StringBuilder sb = new StringBuilder(bos);
        int next = 0;
        String system = "";
        if (!messages.isEmpty() && "system".equals(messages.getFirst().role())) {
            system = messages.getFirst().content().strip();
            next = 1;
        }
        sb.append("<|start_header_id|>system<|end_header_id|>\n\n");
        if (!tools.isEmpty()) sb.append("Environment: ipython\n");
        sb.append("Cutting Knowledge Date: December 2023\n");
        sb.append("Today Date: ").append(date != null ? date : ToolCallFormat.today()).append("\n\n");
        sb.append(system).append("<|eot_id|>");
        if (!tools.isEmpty()) {
            if (next >= messages.size()) {
                throw new IllegalArgumentException("Cannot put tools in the first user message when there's no first user message!");
            }
            sb.append("<|start_header_id|>user<|end_header_id|>\n\n")
                    .append("Given the following functions, please respond with a JSON for a function call ")
                    .append("with its proper arguments that best answers the given prompt.\n\n")
                    .append("Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.")
                    .append("Do not use variables.\n\n");
            for (ToolDefinition t : tools) sb.append(TemplateJson.dumps(t.tool(), 4)).append("\n\n");
            sb.append(messages.get(next).content().strip()).append("<|eot_id|>");
            next++;
        }
        for (int i = next; i < messages.size(); i++) {
            ChatTemplate.Message m = messages.get(i);
            if ("tool".equals(m.role()) || "ipython".equals(m.role())) {
                sb.append("<|start_header_id|>ipython<|end_header_id|>\n\n").append(TemplateJson.quote(m.content()))
                        .append("<|eot_id|>");
            } else if (!m.toolCalls().isEmpty()) {
                if (m.toolCalls().size() != 1) throw new IllegalArgumentException("This model only supports single tool-calls at once!");
                ToolCall c = m.toolCalls().getFirst();
                sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"").append(c.name())
                        .append("\", \"parameters\": ").append(TemplateJson.dumps(c.arguments())).append("}<|eot_id|>");
            } else {
                sb.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n")
                        .append(m.content().strip()).append("<|eot_id|>");
            }
        }
        return sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n").toString();
    }

    @Override
    public ForcedToolCall forcedCall(List<ToolDefinition> allowed, boolean parallel) {
        return new ForcedToolCall("", ToolCallFormat.anyCallSchema(allowed, "parameters")); // one call per turn
    }
}
