package dev.kvfn.engine.structured;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles a JSON Schema to a byte {@link Grammar} whose sentences are exactly the compact JSON texts (at most one
 * space wherever JSON allows whitespace, one before and after the value) that the schema accepts, within the
 * bounds below. The subset is what OpenAI's strict structured outputs take: {@code type} (a name or an array of
 * names, so {@code ["string", "null"]} is nullable), {@code properties}, {@code required},
 * {@code additionalProperties} ({@code false}; without {@code properties} also {@code true} or a schema for the
 * values), {@code enum}, {@code const}, {@code items}, {@code minItems}/{@code maxItems},
 * {@code minLength}/{@code maxLength}, {@code anyOf}, a one-element {@code allOf}, and {@code $ref} to {@code #} or
 * into {@code $defs}/{@code definitions} (recursion included). Annotations ({@code title}, {@code description},
 * ...) are ignored. Any other keyword is refused with an {@link IllegalArgumentException} that names it and where
 * it is, never ignored.
 *
 * <p>Bounds, so a model cannot write forever inside one token class: at most one whitespace character between
 * tokens, integer parts of at most 16 digits, fractions of at most 16 and exponents of at most 3. Properties are
 * written in the schema's order; optional ones may be left out; properties not in the schema are never written
 * (valid unless {@code additionalProperties} requires more, which the subset does not express).
 */
public final class JsonSchemaGrammar {
    /** Keywords that say nothing about validity. */
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "$comment", "default",
            "examples", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict");
    private static final Set<String> SUPPORTED = Set.of("type", "properties", "required", "additionalProperties", "enum",
            "const", "items", "minItems", "maxItems", "minLength", "maxLength", "anyOf", "allOf", "$ref");
    private static final Set<String> TYPES = Set.of("object", "array", "string", "number", "integer", "boolean", "null");
    /** Largest {@code maxLength}/{@code maxItems}/{@code minLength}/{@code minItems}: each count is one rule. */
    public static final int MAX_COUNT = 4096;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Grammar.Builder b = new Grammar.Builder();
    private final JsonNode document;
    private final Map<String, Integer> refRules = new HashMap<>();
    private int ws = -1, string = -1, integer = -1, number = -1, value = -1, anyObject = -1, anyArray = -1;
    private int character = -1, digit = -1;

    private JsonSchemaGrammar(JsonNode document) {
        this.document = document;
    }

    /** The grammar of JSON values {@code schema} accepts; {@link IllegalArgumentException} for what the subset lacks. */
    public static Grammar compile(JsonNode schema) {
        return compile(schema, "", "");
    }

    /**
     * {@link #compile(JsonNode)} with fixed text around the value: {@code before} and {@code after} are written
     * verbatim (e.g. a tool-call tag), the value between them, with an optional space on either side.
     */
    public static Grammar compile(JsonNode schema, String before, String after) {
        if (schema == null || schema.isNull() || schema.isMissingNode()) throw new IllegalArgumentException("the schema is missing");
        JsonSchemaGrammar c = new JsonSchemaGrammar(schema);
        int body = c.schema(schema, "#");
        return c.root(before, body, after);
    }

    /** {@link #compile(JsonNode)} from schema text. */
    public static Grammar compile(String schema) {
        try {
            return compile(JSON.readTree(schema));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the schema is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** Any JSON value. */
    public static Grammar anyValue() {
        JsonSchemaGrammar c = new JsonSchemaGrammar(null);
        return c.root(c.value());
    }

    /** Any JSON object (OpenAI's {@code response_format: json_object}). */
    public static Grammar anyObject() {
        JsonSchemaGrammar c = new JsonSchemaGrammar(null);
        return c.root(c.objectRule());
    }

    private Grammar root(int body) {
        return root("", body, "");
    }

    private Grammar root(String before, int body, String after) {
        int root = b.rule("root");
        b.alt(root, Grammar.Builder.seq(b.literal(before), b.ref(ws()), b.ref(body), b.ref(ws()), b.literal(after)));
        return b.build(root);
    }

    // ---- schema nodes ------------------------------------------------------------------------------

    private int schema(JsonNode s, String path) {
        if (s.isBoolean()) {
            if (s.booleanValue()) return value();
            throw new IllegalArgumentException("the schema at " + path + " is false: no value is valid there");
        }
        if (!s.isObject()) throw new IllegalArgumentException("the schema at " + path + " must be an object or a boolean");
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!SUPPORTED.contains(k) && !ANNOTATIONS.contains(k)) {
                throw new IllegalArgumentException("unsupported JSON Schema keyword \"" + k + "\" at " + path);
            }
        }
        if (s.has("$ref")) {
            onlyWith(s, path, "$ref");
            return ref(s.get("$ref"), path);
        }
        if (s.has("allOf")) {
            onlyWith(s, path, "allOf");
            JsonNode all = s.get("allOf");
            if (!all.isArray() || all.size() != 1) {
                throw new IllegalArgumentException("\"allOf\" at " + path + " is supported with exactly one schema only");
            }
            return schema(all.get(0), path + "/allOf/0");
        }
        if (s.has("anyOf")) {
            onlyWith(s, path, "anyOf");
            JsonNode any = s.get("anyOf");
            if (!any.isArray() || any.isEmpty()) throw new IllegalArgumentException("\"anyOf\" at " + path + " must be a non-empty array");
            int r = b.rule(path + "/anyOf");
            for (int i = 0; i < any.size(); i++) b.alt(r, b.ref(schema(any.get(i), path + "/anyOf/" + i)));
            return r;
        }
        List<String> types = types(s, path);
        if (s.has("const") || s.has("enum")) return literals(s, types, path);
        if (types.isEmpty()) {
            if (s.has("properties") || s.has("additionalProperties") || s.has("required")) types = List.of("object");
            else if (s.has("items") || s.has("minItems") || s.has("maxItems")) types = List.of("array");
            else if (s.has("minLength") || s.has("maxLength")) types = List.of("string");
            else return value();
        }
        if (types.size() == 1) return typed(s, types.getFirst(), path);
        int r = b.rule(path + "/type");
        for (String t : types) b.alt(r, b.ref(typed(s, t, path)));
        return r;
    }

    private void onlyWith(JsonNode s, String path, String keyword) {
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals(keyword) && !ANNOTATIONS.contains(k)) {
                throw new IllegalArgumentException("\"" + keyword + "\" together with \"" + k + "\" at " + path + " is not supported");
            }
        }
    }

    private static List<String> types(JsonNode s, String path) {
        JsonNode t = s.get("type");
        if (t == null) return List.of();
        List<String> out = new ArrayList<>();
        if (t.isTextual()) {
            out.add(t.asText());
        } else if (t.isArray() && !t.isEmpty()) {
            for (JsonNode e : t) {
                if (!e.isTextual()) throw new IllegalArgumentException("\"type\" at " + path + " must be a string or an array of strings");
                if (!out.contains(e.asText())) out.add(e.asText());
            }
        } else {
            throw new IllegalArgumentException("\"type\" at " + path + " must be a string or a non-empty array of strings");
        }
        for (String name : out) {
            if (!TYPES.contains(name)) throw new IllegalArgumentException("unknown \"type\" \"" + name + "\" at " + path);
        }
        return out;
    }

    private int typed(JsonNode s, String type, String path) {
        return switch (type) {
            case "object" -> object(s, path);
            case "array" -> array(s, path);
            case "string" -> {
                int min = count(s, "minLength", 0, path), max = count(s, "maxLength", -1, path);
                yield min == 0 && max < 0 ? string() : string(min, max, path);
            }
            case "integer" -> integer();
            case "number" -> number();
            case "boolean" -> {
                int r = b.rule("boolean");
                b.alt(r, b.literal("true")).alt(r, b.literal("false"));
                yield r;
            }
            case "null" -> {
                int r = b.rule("null");
                b.alt(r, b.literal("null"));
                yield r;
            }
            default -> throw new IllegalStateException(type);
        };
    }

    /** {@code enum}/{@code const}: the values written compactly, those that the {@code type} (if any) allows. */
    private int literals(JsonNode s, List<String> types, String path) {
        List<JsonNode> values = new ArrayList<>();
        if (s.has("const")) values.add(s.get("const"));
        if (s.has("enum")) {
            JsonNode e = s.get("enum");
            if (!e.isArray() || e.isEmpty()) throw new IllegalArgumentException("\"enum\" at " + path + " must be a non-empty array");
            if (s.has("const")) {
                if (!contains(e, s.get("const"))) throw new IllegalArgumentException("\"const\" at " + path + " is not in its \"enum\"");
            } else {
                e.forEach(values::add);
            }
        }
        Set<String> texts = new LinkedHashSet<>();
        for (JsonNode v : values) {
            if (!types.isEmpty() && !types.contains(typeOf(v)) && !(types.contains("number") && v.isNumber())) continue;
            try {
                texts.add(JSON.writeValueAsString(v));
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException("the value " + v + " at " + path + " cannot be written");
            }
        }
        if (texts.isEmpty()) throw new IllegalArgumentException("no \"enum\"/\"const\" value at " + path + " has the schema's \"type\"");
        int r = b.rule(path + "/enum");
        for (String t : texts) b.alt(r, b.literal(t));
        return r;
    }

    private static boolean contains(JsonNode array, JsonNode v) {
        for (JsonNode e : array) if (e.equals(v)) return true;
        return false;
    }

    private static String typeOf(JsonNode v) {
        if (v.isObject()) return "object";
        if (v.isArray()) return "array";
        if (v.isTextual()) return "string";
        if (v.isIntegralNumber() || v.isNumber() && v.decimalValue().stripTrailingZeros().scale() <= 0) return "integer";
        if (v.isNumber()) return "number";
        if (v.isBoolean()) return "boolean";
        return "null";
    }

    private int ref(JsonNode ref, String path) {
        if (!ref.isTextual()) throw new IllegalArgumentException("\"$ref\" at " + path + " must be a string");
        String target = ref.asText();
        if (!target.equals("#") && !target.startsWith("#/")) {
            throw new IllegalArgumentException("\"$ref\" \"" + target + "\" at " + path + " is not supported: only references inside the schema (\"#/$defs/...\")");
        }
        Integer known = refRules.get(target);
        if (known != null) return known;
        JsonNode node = target.equals("#") ? document : document.at(target.substring(1));
        if (node.isMissingNode()) throw new IllegalArgumentException("\"$ref\" \"" + target + "\" at " + path + " points to nothing");
        int r = b.rule(target); // registered before its body, so the body may refer back to it
        refRules.put(target, r);
        b.alt(r, b.ref(schema(node, target)));
        return r;
    }

    private int object(JsonNode s, String path) {
        JsonNode props = s.get("properties");
        JsonNode additional = s.get("additionalProperties");
        if (props != null && !props.isObject()) throw new IllegalArgumentException("\"properties\" at " + path + " must be an object");
        Set<String> required = new LinkedHashSet<>();
        JsonNode req = s.get("required");
        if (req != null) {
            if (!req.isArray()) throw new IllegalArgumentException("\"required\" at " + path + " must be an array of strings");
            for (JsonNode n : req) {
                if (!n.isTextual()) throw new IllegalArgumentException("\"required\" at " + path + " must be an array of strings");
                if (props == null || !props.has(n.asText())) {
                    throw new IllegalArgumentException("required property \"" + n.asText() + "\" at " + path + " is not in \"properties\"");
                }
                required.add(n.asText());
            }
        }
        boolean closed = additional != null && additional.isBoolean() && !additional.booleanValue();
        if (props == null || props.isEmpty()) {
            if (closed) {
                int empty = b.rule(path + "/{}");
                b.alt(empty, Grammar.Builder.seq(b.literal("{"), b.ref(ws()), b.literal("}")));
                return empty;
            }
            if (additional == null || additional.isBoolean()) return objectRule();
            return map(schema(additional, path + "/additionalProperties"), path);
        }
        if (additional != null && !closed) {
            throw new IllegalArgumentException("\"additionalProperties\" other than false together with \"properties\" at " + path
                    + " is not supported");
        }
        List<Property> list = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = props.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String at = path + "/properties/" + e.getKey();
            int kv = b.rule(at);
            b.alt(kv, Grammar.Builder.seq(b.literal(quoted(e.getKey())), b.ref(ws()), b.literal(":"), b.ref(ws()),
                    b.ref(schema(e.getValue(), at))));
            list.add(new Property(kv, required.contains(e.getKey())));
        }
        int r = b.rule(path);
        b.alt(r, Grammar.Builder.seq(b.literal("{"), b.ref(ws()), b.ref(members(list, 0, false, path, new HashMap<>())), b.literal("}")));
        return r;
    }

    private record Property(int rule, boolean required) {}

    /** Properties {@code i..}, in order, optional ones skippable; {@code after}: one is already written (a comma first). */
    private int members(List<Property> props, int i, boolean after, String path, Map<Integer, Integer> memo) {
        int key = 2 * i + (after ? 1 : 0);
        Integer known = memo.get(key);
        if (known != null) return known;
        int r = b.rule(path + "/members" + i);
        memo.put(key, r);
        if (i == props.size()) {
            if (after) b.alt(r, b.ref(ws()));
            else b.alt(r);
            return r;
        }
        Property p = props.get(i);
        int rest = members(props, i + 1, true, path, memo);
        if (after) b.alt(r, Grammar.Builder.seq(b.ref(ws()), b.literal(","), b.ref(ws()), b.ref(p.rule()), b.ref(rest)));
        else b.alt(r, b.ref(p.rule()), b.ref(rest));
        if (!p.required()) b.alt(r, b.ref(members(props, i + 1, after, path, memo)));
        return r;
    }

    /** An object whose keys are any strings and whose values follow {@code value}. */
    private int map(int valueRule, String path) {
        int kv = b.rule(path + "/entry");
        b.alt(kv, b.ref(string()), b.ref(ws()), b.literal(":")[0], b.ref(ws()), b.ref(valueRule));
        return list(path, "{", "}", kv, 0, -1);
    }

    private int array(JsonNode s, String path) {
        JsonNode items = s.get("items");
        int item = items == null ? value() : schema(items, path + "/items");
        int min = count(s, "minItems", 0, path), max = count(s, "maxItems", -1, path);
        if (max >= 0 && max < min) throw new IllegalArgumentException("\"maxItems\" < \"minItems\" at " + path);
        return list(path, "[", "]", item, min, max);
    }

    /** {@code open item (, item){min-1..max-1} close} ({@code max < 0}: unbounded), with optional spaces. */
    private int list(String path, String open, String close, int item, int min, int max) {
        int sepItem = b.rule(path + "/next");
        b.alt(sepItem, b.ref(ws()), b.literal(",")[0], b.ref(ws()), b.ref(item));
        // after the first item: at least min-1 more, at most max-1 more
        int more = repeat(path + "/more", sepItem, Math.max(0, min - 1), max < 0 ? -1 : max - 1);
        int nonEmpty = b.rule(path + "/items");
        b.alt(nonEmpty, b.ref(item), b.ref(more), b.ref(ws()));
        int r = b.rule(path);
        int[] o = b.literal(open), c = b.literal(close);
        b.alt(r, Grammar.Builder.seq(o, b.ref(ws()), b.ref(nonEmpty), c));
        if (min == 0 && max != 0) b.alt(r, Grammar.Builder.seq(o, b.ref(ws()), c));
        if (max == 0) {
            r = b.rule(path + "/empty");
            b.alt(r, Grammar.Builder.seq(o, b.ref(ws()), c));
        }
        return r;
    }

    /** {@code element} between {@code min} and {@code max} times ({@code max < 0}: no upper bound), as one rule. */
    private int repeat(String name, int element, int min, int max) {
        int tail;
        if (max < 0) {
            tail = b.rule(name + "*");
            b.alt(tail).alt(tail, b.ref(element), b.ref(tail));
        } else {
            tail = b.rule(name + "{0}"); // up to k more, built from k = 0 upwards
            b.alt(tail);
            for (int k = 1; k <= max - min; k++) {
                int next = b.rule(name + "{0," + k + "}");
                b.alt(next).alt(next, b.ref(element), b.ref(tail));
                tail = next;
            }
        }
        int r = tail;
        for (int k = 0; k < min; k++) {
            int next = b.rule(name + "+" + (k + 1));
            b.alt(next, b.ref(element), b.ref(r));
            r = next;
        }
        return r;
    }

    private static int count(JsonNode s, String keyword, int absent, String path) {
        JsonNode n = s.get(keyword);
        if (n == null) return absent;
        if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 0) {
            throw new IllegalArgumentException("\"" + keyword + "\" at " + path + " must be a non-negative integer");
        }
        if (n.asInt() > MAX_COUNT) throw new IllegalArgumentException("\"" + keyword + "\" at " + path + " is above " + MAX_COUNT + ", the largest supported");
        return n.asInt();
    }

    // ---- JSON lexical rules (built once per grammar) ----------------------------------------------

    /** At most one space between tokens. */
    private int ws() {
        if (ws < 0) {
            ws = b.rule("ws");
            b.alt(ws).alt(ws, b.literal(" "));
        }
        return ws;
    }

    private int string() {
        if (string < 0) {
            int chars = b.rule("chars");
            b.alt(chars).alt(chars, b.ref(character()), b.ref(chars));
            string = b.rule("string");
            b.alt(string, b.literal("\"")[0], b.ref(chars), b.literal("\"")[0]);
        }
        return string;
    }

    private int string(int min, int max, String path) {
        if (max >= 0 && max < min) throw new IllegalArgumentException("\"maxLength\" < \"minLength\" at " + path);
        int r = b.rule(path + "/string");
        b.alt(r, b.literal("\"")[0], b.ref(repeat(path + "/chars", character(), min, max)), b.literal("\"")[0]);
        return r;
    }

    /** One JSON string character (one code point): unescaped UTF-8 except {@code "}, {@code \} and controls, or an escape. */
    private int character() {
        if (character >= 0) return character;
        character = b.rule("char");
        int cont = b.range(0x80, 0xBF), hex = b.anyOf('0', '9', 'A', 'F', 'a', 'f');
        b.alt(character, b.anyOf(0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F));
        b.alt(character, b.range(0xC2, 0xDF), cont);
        b.alt(character, b.range(0xE0, 0xE0), b.range(0xA0, 0xBF), cont);
        b.alt(character, b.anyOf(0xE1, 0xEC, 0xEE, 0xEF), cont, cont);
        b.alt(character, b.range(0xED, 0xED), b.range(0x80, 0x9F), cont);
        b.alt(character, b.range(0xF0, 0xF0), b.range(0x90, 0xBF), cont, cont);
        b.alt(character, b.range(0xF1, 0xF3), cont, cont, cont);
        b.alt(character, b.range(0xF4, 0xF4), b.range(0x80, 0x8F), cont, cont);
        int backslash = b.range('\\', '\\');
        b.alt(character, backslash, b.oneOf("\"\\/bfnrt"));
        // \\uXXXX outside the surrogates: every escape is one whole code point
        int u = b.range('u', 'u');
        b.alt(character, backslash, u, b.anyOf('0', '9', 'A', 'C', 'a', 'c'), hex, hex, hex);
        b.alt(character, backslash, u, b.oneOf("Dd"), b.range('0', '7'), hex, hex);
        b.alt(character, backslash, u, b.oneOf("EeFf"), hex, hex, hex);
        return character;
    }

    private int digit() {
        if (digit < 0) {
            digit = b.rule("digit");
            b.alt(digit, b.range('0', '9'));
        }
        return digit;
    }

    /** {@code -?(0|[1-9][0-9]{0,15})}. */
    private int integer() {
        if (integer < 0) {
            int digits = repeat("digits", digit(), 0, 15);
            int minus = b.range('-', '-'), zero = b.range('0', '0'), lead = b.range('1', '9');
            integer = b.rule("integer");
            b.alt(integer, zero).alt(integer, lead, b.ref(digits)).alt(integer, minus, zero).alt(integer, minus, lead, b.ref(digits));
        }
        return integer;
    }

    /** An integer, then optionally {@code .[0-9]{1,16}}, then optionally {@code [eE][+-]?[0-9]{1,3}}. */
    private int number() {
        if (number < 0) {
            int frac = b.rule("fraction");
            b.alt(frac).alt(frac, b.range('.', '.'), b.ref(repeat("fraction-digits", digit(), 1, 16)));
            int exp = b.rule("exponent");
            int expDigits = repeat("exponent-digits", digit(), 1, 3);
            b.alt(exp).alt(exp, b.oneOf("eE"), b.ref(expDigits)).alt(exp, b.oneOf("eE"), b.oneOf("+-"), b.ref(expDigits));
            number = b.rule("number");
            b.alt(number, b.ref(integer()), b.ref(frac), b.ref(exp));
        }
        return number;
    }

    /** Any JSON value. */
    private int value() {
        if (value < 0) {
            value = b.rule("value");
            int object = objectRule(), array = arrayRule();
            b.alt(value, b.ref(object)).alt(value, b.ref(array)).alt(value, b.ref(string())).alt(value, b.ref(number()))
                    .alt(value, b.literal("true")).alt(value, b.literal("false")).alt(value, b.literal("null"));
        }
        return value;
    }

    private int objectRule() {
        if (anyObject < 0) {
            anyObject = b.rule("object"); // registered first: values inside refer back to it
            int inner = map(value(), "object");
            b.alt(anyObject, b.ref(inner));
        }
        return anyObject;
    }

    private int arrayRule() {
        if (anyArray < 0) {
            anyArray = b.rule("array");
            int inner = list("array", "[", "]", value(), 0, -1);
            b.alt(anyArray, b.ref(inner));
        }
        return anyArray;
    }

    static String quoted(String key) {
        try {
            return JSON.writeValueAsString(key);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
