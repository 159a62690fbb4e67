package dev.kvfn.function;

import java.util.List;

/**
 * The body of {@code POST /generate} (and the data of a {@code dev.kvfn.generate} CloudEvent).
 * Every field but {@code prompt} is optional.
 */
public record GenerateInput(String prompt, Integer maxTokens, Float temperature, Float topP, Integer topK, Float minP,
                            Long seed, List<String> stop, String cacheSalt) {}
