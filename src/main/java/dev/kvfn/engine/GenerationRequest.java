package dev.kvfn.engine;

import dev.kvfn.engine.structured.TokenConstraint;

import java.util.List;

/**
 * One completion to compute.
 *
 * @param promptTokens token ids, already including BOS if the model wants one
 * @param maxTokens    completion tokens at most (>= 1)
 * @param sampling     how to pick each token
 * @param stop         strings that end the completion; the matched stop string is not returned
 * @param cacheSalt    isolates prefix-cache sharing between tenants (null: the shared default)
 * @param constraint   what the output must be, enforced token by token (e.g. a JSON schema, see
 *                     {@link dev.kvfn.engine.structured.StructuredOutput}); null: free text
 */
public record GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop,
                                String cacheSalt, TokenConstraint constraint) {
    public GenerationRequest {
        if (promptTokens == null || promptTokens.length == 0) throw new IllegalArgumentException("prompt must not be empty");
        if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be >= 1");
        if (stop == null) stop = List.of();
        for (String s : stop) if (s == null || s.isEmpty()) throw new IllegalArgumentException("\"stop\" strings must be non-empty");
        stop = List.copyOf(stop);
        if (sampling == null) sampling = SamplingParams.GREEDY;
        dev.kvfn.kv.CacheSalt.check(cacheSalt); // well-formed, 1-256 bytes: an IllegalArgumentException is a 400
    }

    public GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop, String cacheSalt) {
        this(promptTokens, maxTokens, sampling, stop, cacheSalt, null);
    }

    public GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling) {
        this(promptTokens, maxTokens, sampling, List.of(), null, null);
    }

    /** This request with its output held to {@code constraint} (null: free text). */
    public GenerationRequest withConstraint(TokenConstraint constraint) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stop, cacheSalt, constraint);
    }

    /**
     * The completion tokens this request may produce in a context of {@code contextLength} positions, after checking
     * what every engine must: the prompt leaves room for one token and its ids are in a vocabulary of {@code vocabSize}.
     */
    public int completionLimit(int contextLength, int vocabSize) {
        if (promptTokens.length >= contextLength) {
            throw new IllegalArgumentException("prompt has " + promptTokens.length + " tokens but the context holds "
                    + contextLength + " (prompt plus at least one completion token)");
        }
        for (int t : promptTokens) {
            if (t < 0 || t >= vocabSize) {
                throw new IllegalArgumentException("prompt token id " + t + " is outside the vocabulary of " + vocabSize);
            }
        }
        return Math.min(maxTokens, contextLength - promptTokens.length);
    }
}
