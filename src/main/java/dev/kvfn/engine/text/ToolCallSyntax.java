package dev.kvfn.engine.text;

/**
 * How a model family's calls appear in its output, for {@link ToolCallParser}.
 *
 * @param marker    text that opens a call block ({@code <tool_call>}, {@code [TOOL_CALLS]}, {@code <|python_tag|>})
 * @param close     text that closes one block, or null when the block runs to the end of the output
 * @param bareStart when the output (after white space) starts with this character, a call block starts there
 *                  without a marker (Llama 3's bare JSON; Mistral's array when its control token is not shown as
 *                  text); 0 for none
 * @param idLength  length of the ids this family's calls get (Mistral's template wants 9 alphanumerics); 0 for
 *                  OpenAI's {@code call_} + 24
 */
public record ToolCallSyntax(String marker, String close, char bareStart, int idLength) {}
