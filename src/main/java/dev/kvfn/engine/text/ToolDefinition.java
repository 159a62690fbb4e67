package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One function the model may call (an OpenAI {@code tools[]} entry, already checked).
 *
 * @param name        the function's name
 * @param parameters  its arguments' JSON schema ({@code {"type": "object", "properties": {}}} when none was given)
 * @param tool        the entry as the client sent it ({@code {"type": "function", "function": {...}}}): templates
 *                    render it whole, keys in the client's order
 */
public record ToolDefinition(String name, JsonNode parameters, ObjectNode tool) {

    /** The {@code function} object of the entry. */
    public ObjectNode function() {
        return (ObjectNode) tool.get("function");
    }
}
