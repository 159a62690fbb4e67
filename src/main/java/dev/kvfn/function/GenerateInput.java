package dev.kvfn.function;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;

/**
 * The body of {@code POST /generate} (and the data of a {@code dev.kvfn.generate} CloudEvent).
 * Every field but {@code prompt} is optional. {@code jsonSchema}: the output must be a JSON value of this schema
 * (constrained decoding; {@code {}} is any JSON value).
 */
public record GenerateInput(String prompt, Integer maxTokens, Float temperature, Float topP, Integer topK, Float minP,
                            Long seed, List<String> stop, String cacheSalt, JsonNode jsonSchema) {

    public GenerateInput(String prompt, Integer maxTokens, Float temperature, Float topP, Integer topK, Float minP,
                         Long seed, List<String> stop, String cacheSalt) {
        this(prompt, maxTokens, temperature, topP, topK, minP, seed, stop, cacheSalt, null);
    }
}
