package dev.kvfn.function.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvfn.engine.structured.StructuredOutput;
import dev.kvfn.engine.structured.TokenConstraint;
import dev.kvfn.function.BadRequestException;
import dev.kvfn.tokenizer.Tokenizer;

import java.util.Iterator;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * OpenAI's {@code response_format} as an output constraint: {@code {"type": "text"}} (or none) is free text,
 * {@code {"type": "json_object"}} any JSON object, {@code {"type": "json_schema", "json_schema": {"name", "schema",
 * "strict", "description"}}} a value of the schema (always enforced, {@code strict} or not). Anything else, and a
 * schema the compiler does not take, is a 400 naming the field.
 */
public final class ResponseFormats {
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");
    private static final Set<String> JSON_SCHEMA_FIELDS = Set.of("name", "schema", "strict", "description");

    private ResponseFormats() {}

    /** The constraint {@code responseFormat} asks for, or null for free text. */
    public static TokenConstraint constraint(JsonNode responseFormat, Tokenizer tokenizer) {
        if (responseFormat == null || responseFormat.isNull()) return null;
        if (!responseFormat.isObject()) throw new BadRequestException("\"response_format\" must be an object");
        JsonNode type = responseFormat.get("type");
        if (type == null || !type.isTextual()) {
            throw new BadRequestException("\"response_format.type\" is required: \"text\", \"json_object\" or \"json_schema\"");
        }
        return switch (type.asText()) {
            case "text" -> null;
            case "json_object" -> StructuredOutput.jsonObject(tokenizer);
            case "json_schema" -> jsonSchema(responseFormat.get("json_schema"), tokenizer);
            default -> throw new BadRequestException("\"response_format.type\" \"" + type.asText()
                    + "\" is not supported; use \"text\", \"json_object\" or \"json_schema\"");
        };
    }

    private static TokenConstraint jsonSchema(JsonNode spec, Tokenizer tokenizer) {
        if (spec == null || !spec.isObject()) {
            throw new BadRequestException("\"response_format.json_schema\" is required with type \"json_schema\" and must be an object");
        }
        for (Iterator<String> it = spec.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!JSON_SCHEMA_FIELDS.contains(f)) throw new BadRequestException("\"response_format.json_schema." + f + "\" is not supported");
        }
        JsonNode name = spec.get("name");
        if (name == null || !name.isTextual() || !NAME.matcher(name.asText()).matches()) {
            throw new BadRequestException("\"response_format.json_schema.name\" is required: 1 to 64 letters, digits, '_' or '-'");
        }
        JsonNode strict = spec.get("strict");
        if (strict != null && !strict.isNull() && !strict.isBoolean()) {
            throw new BadRequestException("\"response_format.json_schema.strict\" must be a boolean");
        }
        JsonNode schema = spec.get("schema");
        if (schema == null || schema.isNull()) throw new BadRequestException("\"response_format.json_schema.schema\" is required");
        try {
            return StructuredOutput.jsonSchema(schema, tokenizer);
        } catch (IllegalArgumentException e) {
            throw new BadRequestException("\"response_format.json_schema.schema\": " + e.getMessage());
        }
    }
}
