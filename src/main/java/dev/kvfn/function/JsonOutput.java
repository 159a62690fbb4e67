package dev.kvfn.function;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.structured.StructuredOutput;
import dev.kvfn.engine.structured.TokenConstraint;
import dev.kvfn.tokenizer.Tokenizer;

/**
 * The {@code generate} function's {@code jsonSchema}: the output constraint it asks for, and the finished text as
 * a JSON value for {@link GenerateOutput#json()}, so an event in gives a JSON object out.
 */
final class JsonOutput {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonOutput() {}

    /** The constraint for {@code jsonSchema} ({@code {}} is any JSON value), or null without one; 400 naming the field. */
    static TokenConstraint constraint(JsonNode jsonSchema, Tokenizer tokenizer) {
        if (jsonSchema == null || jsonSchema.isNull()) return null;
        try {
            return StructuredOutput.jsonSchema(jsonSchema, tokenizer);
        } catch (IllegalArgumentException e) {
            throw new BadRequestException("\"jsonSchema\": " + e.getMessage());
        }
    }

    /** The value a constrained generation wrote; null when it was cut short (max tokens, a stop string) before it was whole. */
    static JsonNode value(GenerationResult r) {
        if (r.finishReason() != FinishReason.STOP) return null;
        try {
            return JSON.readTree(r.text());
        } catch (Exception cutByAStopString) {
            return null;
        }
    }
}
