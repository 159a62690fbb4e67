package dev.kvfn.function;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * The answer to {@code generate}: the completion (never the prompt), its token ids, and what it cost; with a
 * {@code jsonSchema}, {@code json} is the completion as a JSON value (absent when it was cut short).
 */
public record GenerateOutput(String text, int[] tokens, int promptTokens, int completionTokens, int cachedTokens,
                             String finishReason, double ttftMillis, double decodeTokensPerSecond, String model,
                             @JsonInclude(JsonInclude.Include.NON_NULL) JsonNode json) {

    public GenerateOutput(String text, int[] tokens, int promptTokens, int completionTokens, int cachedTokens,
                          String finishReason, double ttftMillis, double decodeTokensPerSecond, String model) {
        this(text, tokens, promptTokens, completionTokens, cachedTokens, finishReason, ttftMillis, decodeTokensPerSecond, model, null);
    }
}
