package dev.kvfn.function;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * The answer to {@code generate}: the completion (never the prompt), its token ids, and what it cost; with a
 * {@code jsonSchema}, {@code json} is the completion as a JSON value (absent when it was cut short).
 * {@code cachedTokens} and {@code ttftMillis} disclose prefix-cache hits: absent unless {@link CacheHitReport} allows.
 */
public record GenerateOutput(String text, int[] tokens, int promptTokens, int completionTokens,
                             @JsonInclude(JsonInclude.Include.NON_NULL) Integer cachedTokens,
                             String finishReason, @JsonInclude(JsonInclude.Include.NON_NULL) Double ttftMillis,
                             double decodeTokensPerSecond, String model,
                             @JsonInclude(JsonInclude.Include.NON_NULL) JsonNode json) {

    public GenerateOutput(String text, int[] tokens, int promptTokens, int completionTokens, Integer cachedTokens,
                          String finishReason, Double ttftMillis, double decodeTokensPerSecond, String model) {
        this(text, tokens, promptTokens, completionTokens, cachedTokens, finishReason, ttftMillis, decodeTokensPerSecond, model, null);
    }
}
