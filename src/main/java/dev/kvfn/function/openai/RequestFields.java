package dev.kvfn.function.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvfn.function.BadRequestException;

import java.util.Map;
import java.util.Set;

/**
 * The request fields kvfn does not read: each is checked against OpenAI's range, then accepted only at the
 * value that asks for nothing (a zero penalty, an empty {@code logit_bias}, ...); anything else is a 400 naming
 * the field, never silently ignored. A field OpenAI does not know is refused as OpenAI refuses it.
 */
final class RequestFields {
    private RequestFields() {}

    /** Fields that change nothing about the tokens produced: accepted and not used. */
    private static final Set<String> NO_EFFECT = Set.of("user", "store", "metadata", "service_tier", "safety_identifier",
            "prompt_cache_key");

    /** Fields handled on other code paths (structured output and tool calls); not this class's to refuse. */
    private static final Set<String> ELSEWHERE = Set.of("response_format", "tools", "tool_choice", "parallel_tool_calls");

    /** Fields with no value kvfn can honour beyond its default, whichever endpoint. */
    private static final Set<String> UNSUPPORTED = Set.of("functions", "function_call", "audio", "prediction",
            "reasoning_effort", "web_search_options", "verbosity");

    static void checkCompletion(OpenAiRequests.Completion in) {
        if (in.n() != null) checkN(in.n());
        if (Boolean.TRUE.equals(in.echo())) throw unsupported("echo", "\"echo\" is not supported");
        if (in.logprobs() != null && !in.logprobs().isNull()) {
            integer(in.logprobs(), "logprobs", 0, 5);
            throw unsupported("logprobs", "\"logprobs\" is not supported");
        }
        if (in.others() == null) return;
        for (Map.Entry<String, JsonNode> e : in.others().entrySet()) {
            JsonNode v = e.getValue();
            if (v == null || v.isNull()) continue;
            switch (e.getKey()) {
                case "best_of" -> {
                    if (integer(v, "best_of", 0, 20) > 1) throw unsupported("best_of", "\"best_of\" above 1 is not supported");
                }
                case "suffix" -> {
                    if (!v.isTextual()) throw new BadRequestException("\"suffix\" must be a string", "suffix");
                    if (!v.asText().isEmpty()) throw unsupported("suffix", "\"suffix\" (insertion) is not supported");
                }
                default -> common(e.getKey(), v);
            }
        }
    }

    static void checkChat(OpenAiRequests.Chat in) {
        if (in.n() != null) checkN(in.n());
        if (in.logprobs() != null && !in.logprobs().isNull()) {
            if (!in.logprobs().isBoolean()) throw new BadRequestException("\"logprobs\" must be a boolean", "logprobs");
            if (in.logprobs().asBoolean()) throw unsupported("logprobs", "\"logprobs\" is not supported");
        }
        if (in.others() == null) return;
        for (Map.Entry<String, JsonNode> e : in.others().entrySet()) {
            JsonNode v = e.getValue();
            if (v == null || v.isNull()) continue;
            switch (e.getKey()) {
                case "top_logprobs" -> {
                    if (integer(v, "top_logprobs", 0, 20) > 0) throw unsupported("top_logprobs", "\"top_logprobs\" is not supported");
                }
                case "modalities" -> {
                    if (!v.isArray()) throw new BadRequestException("\"modalities\" must be an array", "modalities");
                    for (JsonNode m : v) {
                        if (!"text".equals(m.asText())) throw unsupported("modalities", "\"modalities\" other than \"text\" are not supported");
                    }
                }
                default -> common(e.getKey(), v);
            }
        }
    }

    private static void common(String field, JsonNode v) {
        if (NO_EFFECT.contains(field) || ELSEWHERE.contains(field)) return;
        switch (field) {
            case "frequency_penalty", "presence_penalty" -> {
                if (!v.isNumber() || v.asDouble() < -2 || v.asDouble() > 2) {
                    throw new BadRequestException("\"" + field + "\" must be a number in [-2, 2]", field);
                }
                if (v.asDouble() != 0) throw unsupported(field, "\"" + field + "\" is not supported (only 0)");
            }
            case "logit_bias" -> {
                if (!v.isObject()) throw new BadRequestException("\"logit_bias\" must be an object of token ids to biases", field);
                v.fields().forEachRemaining(bias -> {
                    if (!bias.getValue().isNumber() || bias.getValue().asDouble() < -100 || bias.getValue().asDouble() > 100) {
                        throw new BadRequestException("\"logit_bias\" values must be numbers in [-100, 100]", field);
                    }
                });
                if (!v.isEmpty()) throw unsupported(field, "\"logit_bias\" is not supported");
            }
            default -> {
                if (UNSUPPORTED.contains(field)) throw unsupported(field, "\"" + field + "\" is not supported");
                throw new BadRequestException("Unrecognized request argument supplied: " + field, field);
            }
        }
    }

    private static void checkN(int n) {
        if (n < 1) throw new BadRequestException("\"n\" must be >= 1, got " + n, "n");
        if (n > 1) throw unsupported("n", "\"n\" above 1 is not supported: one completion per request");
    }

    private static int integer(JsonNode v, String field, int min, int max) {
        if (!v.isIntegralNumber() || v.asLong() < min || v.asLong() > max) {
            throw new BadRequestException("\"" + field + "\" must be an integer in [" + min + ", " + max + "]", field);
        }
        return v.asInt();
    }

    private static BadRequestException unsupported(String field, String message) {
        return new BadRequestException(message + " (kvfn does not implement it)", field);
    }
}
