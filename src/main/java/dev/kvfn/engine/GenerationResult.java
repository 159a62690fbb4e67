package dev.kvfn.engine;

/**
 * The outcome of one request.
 *
 * @param text          the completion only (not the prompt), without any matched stop string
 * @param tokens        completion token ids (including a final EOS if one was sampled)
 * @param promptTokens  prompt length in tokens
 * @param cachedTokens  prompt tokens whose KV came from a cache instead of being computed
 * @param ttftNanos     from submit to the first completion token
 * @param decodeNanos   from the first to the last completion token
 */
public record GenerationResult(String text, int[] tokens, int promptTokens, int cachedTokens,
                               FinishReason finishReason, long ttftNanos, long decodeNanos) {

    public int completionTokens() {
        return tokens.length;
    }

    /** Tokens after the first, per second of decode time; 0 when fewer than two tokens. */
    public double decodeTokensPerSecond() {
        return tokens.length < 2 || decodeNanos <= 0 ? 0 : (tokens.length - 1) * 1e9 / decodeNanos;
    }
}
