package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * What forcing a call ({@code tool_choice: "required"} or a named function) takes, in the model family's own
 * call format: the text to put at the start of the assistant turn (appended to the prompt), then output
 * constrained to {@code schema}. What the model writes then parses as a call once the parser has seen
 * {@code prefix} ({@link ToolCallParser#afterPrompted}).
 *
 * @param prefix the text that opens a call in this format ("" when a call is bare JSON)
 * @param schema JSON schema of what follows the prefix: the call object (or array of them) with the function's
 *               name as a {@code const} and its parameters' schema as the arguments
 */
public record ForcedToolCall(String prefix, ObjectNode schema) {}
