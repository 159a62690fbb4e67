package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One function call: made by the model (parsed from its output) or earlier in the conversation (an assistant
 * message's {@code tool_calls}).
 *
 * @param id        the call's id ({@code tool_call_id} of its result)
 * @param name      the function
 * @param arguments the arguments as a JSON object
 */
public record ToolCall(String id, String name, ObjectNode arguments) {

    /** The arguments as OpenAI sends them: JSON text (in the templates' spelling, as vLLM and llama.cpp write it). */
    public String argumentsJson() {
        return TemplateJson.dumps(arguments);
    }
}
