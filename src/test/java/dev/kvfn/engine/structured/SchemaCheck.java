package dev.kvfn.engine.structured;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;

import java.util.List;
import java.util.Set;

/**
 * The test suite's schemas (short enough that a constrained value fits in stories260K's 128-token context) and an
 * independent check of outputs against them: parsed by Jackson, validated by networknt's JSON Schema validator
 * (draft 2020-12), nothing of kvfn's own grammar involved.
 */
public final class SchemaCheck {
    private SchemaCheck() {}

    public static final ObjectMapper JSON = new ObjectMapper();

    /** Nested objects, arrays, enums, numbers and integers, required and optional keys, anyOf, nullable, $defs. */
    public static final List<String> SCHEMAS = List.of(
            """
            {"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer"},
             "pet":{"enum":["cat","dog","bird"]}},"required":["name","age","pet"],"additionalProperties":false}""",
            """
            {"type":"object","properties":{"owner":{"type":"object","properties":{"id":{"type":"integer"},
             "ok":{"type":"boolean"}},"required":["id","ok"],"additionalProperties":false},"score":{"type":"number"}},
             "required":["owner"],"additionalProperties":false}""",
            """
            {"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","maxLength":5},"maxItems":3},
             "count":{"type":"integer"}},"required":["tags"],"additionalProperties":false}""",
            """
            {"type":"object","properties":{"v":{"anyOf":[{"type":"integer"},{"type":"string","maxLength":6}]},
             "note":{"type":["string","null"],"maxLength":6}},"required":["v","note"],"additionalProperties":false}""",
            """
            {"$defs":{"pt":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"number"}},
             "required":["x","y"],"additionalProperties":false}},"type":"array","items":{"$ref":"#/$defs/pt"},
             "minItems":1,"maxItems":2}""",
            """
            {"type":"array","items":{"enum":["a","b",1,true,null]},"maxItems":4}""");

    public static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (Exception e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Why {@code output} is not a valid instance of {@code schema}; empty when it is. */
    public static List<String> problems(String schema, String output) {
        JsonNode value;
        try {
            value = JSON.readTree(output);
            if (value == null || value.isMissingNode()) return List.of("no JSON value in " + quote(output));
        } catch (Exception e) {
            return List.of("not JSON: " + quote(output));
        }
        JsonSchema s = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(parse(schema));
        Set<ValidationMessage> errors = s.validate(value);
        return errors.stream().map(m -> m.getMessage() + " in " + quote(output)).toList();
    }

    private static String quote(String s) {
        return "'" + (s.length() > 200 ? s.substring(0, 200) + "..." : s) + "'";
    }
}
