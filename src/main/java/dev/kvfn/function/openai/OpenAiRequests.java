package dev.kvfn.function.openai;

import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Map;

/**
 * Request bodies of the OpenAI-compatible API: the fields kvfn reads, typed; every other field lands in
 * {@code others}, which {@link RequestFields} checks (never silently ignored).
 */
final class OpenAiRequests {
    private OpenAiRequests() {}

    record StreamOptions(@JsonProperty("include_usage") Boolean includeUsage) {}

    record ChatMessage(String role, JsonNode content, @JsonProperty("tool_calls") JsonNode toolCalls,
                       @JsonProperty("tool_call_id") String toolCallId) {}

    /** {@code POST /v1/completions}. {@code prompt} and {@code stop} may be a string or an array of strings. */
    record Completion(@JsonAnySetter Map<String, JsonNode> others,
                      String model, JsonNode prompt, @JsonProperty("max_tokens") Integer maxTokens, Float temperature,
                      @JsonProperty("top_p") Float topP, @JsonProperty("top_k") Integer topK, @JsonProperty("min_p") Float minP,
                      Long seed, JsonNode stop, Boolean stream, @JsonProperty("stream_options") StreamOptions streamOptions,
                      Integer n, Boolean echo, JsonNode logprobs, @JsonProperty("cache_salt") String cacheSalt,
                      @JsonProperty("response_format") JsonNode responseFormat) {}

    /** {@code POST /v1/chat/completions}. {@code max_completion_tokens} is the newer name of {@code max_tokens}. */
    record Chat(@JsonAnySetter Map<String, JsonNode> others,
                String model, List<ChatMessage> messages, @JsonProperty("max_tokens") Integer maxTokens,
                @JsonProperty("max_completion_tokens") Integer maxCompletionTokens, Float temperature,
                @JsonProperty("top_p") Float topP, @JsonProperty("top_k") Integer topK, @JsonProperty("min_p") Float minP,
                Long seed, JsonNode stop, Boolean stream, @JsonProperty("stream_options") StreamOptions streamOptions,
                Integer n, JsonNode logprobs, @JsonProperty("cache_salt") String cacheSalt,
                JsonNode tools, @JsonProperty("tool_choice") JsonNode toolChoice,
                @JsonProperty("parallel_tool_calls") Boolean parallelToolCalls,
                @JsonProperty("response_format") JsonNode responseFormat) {}
}
