package dev.kvfn.engine.structured;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kvfn.tokenizer.Tokenizer;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The entry point for constrained JSON output: a {@link TokenConstraint} for a JSON Schema, for any JSON object, or
 * for any JSON value, over a model's tokenizer, to put on a {@link dev.kvfn.engine.GenerationRequest}. Compiled
 * constraints are kept (least recently used out, {@value #CACHED} at most), so requests with the same schema share
 * their per-state token masks.
 */
public final class StructuredOutput {
    static final int CACHED = 64;

    private record Key(String schema, Tokenizer tokenizer) {}

    private static final Map<Key, TokenConstraint> CACHE = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, TokenConstraint> eldest) {
            return size() > CACHED;
        }
    };

    private StructuredOutput() {}

    /**
     * Output that is a JSON value valid against {@code schema} (the subset {@link JsonSchemaGrammar} takes).
     *
     * @throws IllegalArgumentException naming the keyword and where it is, when the schema uses what is not supported
     */
    public static TokenConstraint jsonSchema(JsonNode schema, Tokenizer tokenizer) {
        if (schema == null) throw new IllegalArgumentException("the schema is missing");
        return jsonSchema(schema, tokenizer, "", "");
    }

    /**
     * Output that is {@code before}, then a JSON value valid against {@code schema}, then {@code after} (fixed text
     * written verbatim, e.g. {@code "<tool_call>\n"} and {@code "\n</tool_call>"}; only tokens that write those bytes
     * can produce it, so a control token that writes nothing cannot).
     */
    public static TokenConstraint jsonSchema(JsonNode schema, Tokenizer tokenizer, String before, String after) {
        if (schema == null) throw new IllegalArgumentException("the schema is missing");
        if (before == null || after == null) throw new IllegalArgumentException("before and after must not be null (use \"\")");
        return cached(new Key(before + "\u0000" + schema + "\u0000" + after, tokenizer),
                () -> JsonSchemaGrammar.compile(schema, before, after));
    }

    /** Output that is one JSON object, any keys and values (OpenAI's {@code json_object}). */
    public static TokenConstraint jsonObject(Tokenizer tokenizer) {
        return cached(new Key("<object>", tokenizer), JsonSchemaGrammar::anyObject);
    }

    /** Output that is one JSON value of any type. */
    public static TokenConstraint anyJson(Tokenizer tokenizer) {
        return cached(new Key("<value>", tokenizer), JsonSchemaGrammar::anyValue);
    }

    private static TokenConstraint cached(Key key, java.util.function.Supplier<Grammar> grammar) {
        synchronized (CACHE) {
            TokenConstraint c = CACHE.get(key);
            if (c != null) return c;
        }
        TokenConstraint c = TokenConstraint.of(grammar.get(), key.tokenizer()); // compiled outside the lock
        synchronized (CACHE) {
            TokenConstraint raced = CACHE.putIfAbsent(key, c);
            return raced != null ? raced : c;
        }
    }
}
