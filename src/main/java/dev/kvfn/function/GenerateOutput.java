package dev.kvfn.function;

/**
 * The answer to {@code generate}: the completion (never the prompt), its token ids, and what it cost.
 */
public record GenerateOutput(String text, int[] tokens, int promptTokens, int completionTokens, int cachedTokens,
                             String finishReason, double ttftMillis, double decodeTokensPerSecond, String model) {}
