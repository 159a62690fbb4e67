package dev.kvfn.engine.text;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import org.jboss.logging.Logger;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders chat messages into a prompt with the model's own {@code tokenizer.chat_template} (a Jinja2 template,
 * rendered with Jinjava configured like Hugging Face's: trim_blocks, lstrip_blocks). When the model has no
 * template, or Jinjava cannot render it (a feature it lacks, or the template raises), the documented fallback is
 * ChatML: {@code <|im_start|>role\ncontent<|im_end|>\n} per message, then {@code <|im_start|>assistant\n}.
 */
public final class ChatTemplate {
    private static final Logger LOG = Logger.getLogger(ChatTemplate.class);

    /**
     * One chat message.
     *
     * @param content    its text ("" when it has none, e.g. an assistant turn that only calls tools)
     * @param toolCalls  the calls an assistant turn made (empty otherwise)
     * @param toolCallId for a {@code tool} message: the call whose result it is (null otherwise)
     */
    public record Message(String role, String content, List<ToolCall> toolCalls, String toolCallId) {
        public Message {
            toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        }

        public Message(String role, String content) {
            this(role, content, List.of(), null);
        }

        /** Whether only a tool-calling format can render this message. */
        boolean aboutTools() {
            return !toolCalls.isEmpty() || toolCallId != null || "tool".equals(role) || "ipython".equals(role);
        }
    }

    private final String template; // null: ChatML fallback
    private final String source; // the template as Jinjava parses it (see HfJinja.rewrite)
    private final String bosToken;
    private final String eosToken;
    private volatile Jinjava jinjava; // built at the first render that needs it: building one costs about a second cold
    private final ToolCallFormat toolFormat;
    private volatile boolean warned;

    public ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template == null || template.isBlank() ? null : template;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.source = this.template == null ? null : HfJinja.rewrite(this.template);
        this.toolFormat = ToolCallFormat.forTemplate(this.template);
    }

    /**
     * The template engine, made on first use: a completion request or a model without a template never needs it, and
     * a cold start should not pay for loading and linking Jinjava before the first token.
     */
    private Jinjava jinjava() {
        Jinjava j = jinjava;
        if (j == null) {
            synchronized (this) {
                j = jinjava;
                if (j == null) {
                    j = HfJinja.create();
                    j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                            ChatTemplate.class, "raiseException", String.class));
                    jinjava = j;
                }
            }
        }
        return j;
    }

    /** How this model's family writes tool definitions, calls and results (Hermes-style ChatML when unknown). */
    public ToolCallFormat toolFormat() {
        return toolFormat;
    }

    /**
     * Renders a conversation that may involve tools: with {@code tools} or tool messages, the family's
     * tool-calling format renders it (see {@link ToolCallFormat}); without either, exactly {@link #render(List)}.
     */
    public String render(List<Message> messages, List<ToolDefinition> tools) {
        if (tools.isEmpty() && messages.stream().noneMatch(Message::aboutTools)) return render(messages);
        return toolFormat.render(messages, tools, bosToken, eosToken);
    }

    /** Whether the model's own template is used (false: ChatML fallback). */
    public boolean fromModel() {
        return template != null;
    }

    public String render(List<Message> messages) {
        if (template != null) {
            String rendered = renderModelTemplate(messages, List.of(), true);
            if (rendered != null) return rendered;
        }
        return chatMl(messages);
    }

    /**
     * Renders the model's own template with everything Hugging Face's {@code apply_chat_template} passes: the
     * messages with their {@code tool_calls} (OpenAI shape, arguments as objects) and {@code tool_call_id}, the
     * {@code tools} (absent when empty), {@code add_generation_prompt}, {@code bos_token} and {@code eos_token}.
     * Returns null, after one warning, when the model has no template or Jinjava cannot render it;
     * IllegalArgumentException when the template raises.
     */
    public String renderModelTemplate(List<Message> messages, List<ToolDefinition> tools, boolean addGenerationPrompt) {
        if (template == null) return null;
        Map<String, Object> context = new HashMap<>();
        context.put("messages", messages.stream().map(ChatTemplate::templateMessage).toList());
        if (!tools.isEmpty()) context.put("tools", tools.stream().map(t -> TemplateValues.of(t.tool())).toList());
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        RenderResult result;
        try {
            result = jinjava().renderForResult(source, context);
        } finally {
            String raised = RAISED.get();
            RAISED.remove();
            if (raised != null) throw new IllegalArgumentException("the model's chat template rejected the messages: " + raised);
        }
        if (result.getErrors().stream().noneMatch(e -> e.getSeverity() == com.hubspot.jinjava.interpret.TemplateError.ErrorType.FATAL)) {
            return result.getOutput();
        }
        if (!warned) {
            warned = true;
            LOG.warnf("the model's chat template cannot be rendered (%s); using the ChatML fallback",
                    result.getErrors().getFirst().getMessage());
        }
        return null;
    }

    /** A message as templates read it: role and content, tool_calls and tool_call_id only when it has them. */
    private static Map<String, Object> templateMessage(Message m) {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("role", m.role());
        map.put("content", m.content());
        if (!m.toolCalls().isEmpty()) {
            map.put("tool_calls", m.toolCalls().stream().map(c -> {
                Map<String, Object> function = new LinkedHashMap<>();
                function.put("name", c.name());
                function.put("arguments", TemplateValues.of(c.arguments()));
                Map<String, Object> call = new LinkedHashMap<>();
                if (c.id() != null) call.put("id", c.id());
                call.put("type", "function");
                call.put("function", function);
                return call;
            }).toList());
        }
        if (m.toolCallId() != null) map.put("tool_call_id", m.toolCallId());
        return map;
    }

    static String chatMl(List<Message> messages) {
        StringBuilder sb = new StringBuilder();
        for (Message m : messages) {
            sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
        }
        return sb.append("<|im_start|>assistant\n").toString();
    }

    /** What {@code raise_exception} said during this thread's render: Jinjava swallows exceptions thrown by functions. */
    private static final ThreadLocal<String> RAISED = new ThreadLocal<>();

    /** Templates call {@code raise_exception(msg)} to reject a conversation (e.g. roles out of order). */
    public static String raiseException(String message) {
        if (RAISED.get() == null) RAISED.set(message);
        throw new IllegalStateException(message);
    }
}
