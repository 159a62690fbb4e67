package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;

/**
 * A model family's tool-calling format: how tool definitions, the assistant's calls and the tools' results are
 * written into the prompt (as the family's own chat template writes them), how calls appear in the output, and
 * what forcing a call takes. Chosen from the model's {@code tokenizer.chat_template} by the markers it contains.
 */
public sealed interface ToolCallFormat permits HermesToolFormat, Llama3ToolFormat, MistralToolFormat {

    /** "hermes", "llama3" or "mistral". */
    String name();

    /** The whole prompt, ending where the assistant's next turn begins. Bad conversations: IllegalArgumentException. */
    String render(List<ChatTemplate.Message> messages, List<ToolDefinition> tools, String bos, String eos);

    /** How calls appear in the output. */
    ToolCallSyntax syntax();

    /** The prefix and schema that force one call of one of {@code allowed} (or several where the format allows). */
    ForcedToolCall forcedCall(List<ToolDefinition> allowed, boolean parallel);

    /** The family of a chat template (null: the model has none). */
    static ToolCallFormat forTemplate(String template) {
        if (template == null) return HermesToolFormat.CHATML;
        if (template.contains("[TOOL_CALLS]") || template.contains("[AVAILABLE_TOOLS]")) return new MistralToolFormat();
        if (template.contains("<|start_header_id|>")) {
            // Llama 3.2's template dates the prompt today (strftime_now); 3.1's has a fixed date
            return new Llama3ToolFormat(template.contains("strftime_now") ? null : Llama3ToolFormat.LLAMA31_DATE);
        }
        if (template.contains(HermesToolFormat.QWEN25_SYSTEM)) return HermesToolFormat.QWEN25;
        return HermesToolFormat.CHATML; // <tool_call>/<|im_start|> templates and unknown families alike
    }

    /** Today as Llama 3.2's template writes it ({@code strftime_now("%d %b %Y")}): "05 Mar 2026". */
    static String today() {
        LocalDate d = LocalDate.now(ZoneOffset.UTC);
        String month = d.getMonth().getDisplayName(java.time.format.TextStyle.SHORT, java.util.Locale.ENGLISH);
        return String.format("%02d %s %d", d.getDayOfMonth(), month, d.getYear());
    }

    // ---- shared by the formats ----

    /** {@code {"type": "object", "properties": {name: const, args: parameters}, "required": [...]}} for one function. */
    static ObjectNode callSchema(ToolDefinition t, String argumentsKey) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode props = f.objectNode();
        props.set("name", f.objectNode().put("const", t.name()));
        props.set(argumentsKey, t.parameters().deepCopy());
        ObjectNode s = f.objectNode().put("type", "object");
        s.set("properties", props);
        s.set("required", f.arrayNode().add("name").add(argumentsKey));
        s.put("additionalProperties", false);
        return s;
    }

    /** One call of any of {@code allowed}. */
    static ObjectNode anyCallSchema(List<ToolDefinition> allowed, String argumentsKey) {
        if (allowed.isEmpty()) throw new IllegalArgumentException("no function to force a call of");
        if (allowed.size() == 1) return callSchema(allowed.getFirst(), argumentsKey);
        ArrayNode any = JsonNodeFactory.instance.arrayNode();
        for (ToolDefinition t : allowed) any.add(callSchema(t, argumentsKey));
        ObjectNode s = JsonNodeFactory.instance.objectNode();
        s.set("anyOf", any);
        return s;
    }
}
