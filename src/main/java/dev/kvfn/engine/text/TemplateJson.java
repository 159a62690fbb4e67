package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.Iterator;
import java.util.Map;

/**
 * JSON text exactly as chat templates write it: Hugging Face's {@code tojson} filter is Python's
 * {@code json.dumps(x, ensure_ascii=False, indent=indent)} — {@code ", "} and {@code ": "} between items when not
 * indented, {@code ","} and newlines when indented, non-ASCII characters as they are, keys in the order given.
 * Models were trained on this spelling, so tool definitions and calls in prompts must match it byte for byte.
 */
public final class TemplateJson {
    private TemplateJson() {}

    static final ObjectMapper MAPPER = new ObjectMapper();

    /** {@code value | tojson}. */
    public static String dumps(JsonNode value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, -1, 0);
        return sb.toString();
    }

    /** {@code value | tojson(indent=indent)}. */
    public static String dumps(JsonNode value, int indent) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, indent, 0);
        return sb.toString();
    }

    /** {@code "text" | tojson}: a JSON string literal. */
    public static String quote(String text) {
        StringBuilder sb = new StringBuilder();
        string(sb, text);
        return sb.toString();
    }

    /** Parses JSON text; null when it is not one well-formed JSON value. */
    public static JsonNode parse(String text) {
        try {
            var parser = MAPPER.createParser(text);
            JsonNode node = MAPPER.readTree(parser);
            if (node == null || parser.nextToken() != null) return null; // trailing text: not one value
            return node;
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private static void write(StringBuilder sb, JsonNode v, int indent, int depth) {
        if (v == null || v.isNull() || v.isMissingNode()) {
            sb.append("null");
        } else if (v.isObject()) {
            if (v.isEmpty()) {
                sb.append("{}");
                return;
            }
            sb.append('{');
            Iterator<Map.Entry<String, JsonNode>> it = v.fields();
            boolean first = true;
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                separator(sb, first, indent, depth + 1);
                first = false;
                string(sb, e.getKey());
                sb.append(": ");
                write(sb, e.getValue(), indent, depth + 1);
            }
            close(sb, indent, depth);
            sb.append('}');
        } else if (v.isArray()) {
            if (v.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            boolean first = true;
            for (JsonNode e : v) {
                separator(sb, first, indent, depth + 1);
                first = false;
                write(sb, e, indent, depth + 1);
            }
            close(sb, indent, depth);
            sb.append(']');
        } else if (v.isTextual()) {
            string(sb, v.textValue());
        } else if (v.isBoolean()) {
            sb.append(v.booleanValue() ? "true" : "false");
        } else if (v.isIntegralNumber()) {
            sb.append(v.bigIntegerValue());
        } else if (v.isNumber()) {
            sb.append(pythonFloat(v.doubleValue()));
        } else {
            sb.append(v); // binary/POJO nodes never come from parsed JSON
        }
    }

    private static void separator(StringBuilder sb, boolean first, int indent, int depth) {
        if (indent < 0) {
            if (!first) sb.append(", ");
            return;
        }
        if (!first) sb.append(',');
        sb.append('\n').repeat(' ', indent * depth);
    }

    private static void close(StringBuilder sb, int indent, int depth) {
        if (indent >= 0) sb.append('\n').repeat(' ', indent * depth);
    }

    /** Python's float repr: {@code 1.0}, {@code 0.5}, {@code 1e-05}, {@code 1e+20}. */
    static String pythonFloat(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        String s = Double.toString(d); // shortest round-trip digits, like repr
        int e = s.indexOf('E');
        if (e < 0) return s;
        String mantissa = s.substring(0, e);
        int exponent = Integer.parseInt(s.substring(e + 1));
        if (exponent >= -4 && exponent < 16) { // repr writes these positionally
            String plain = new java.math.BigDecimal(s).stripTrailingZeros().toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        if (mantissa.endsWith(".0")) mantissa = mantissa.substring(0, mantissa.length() - 2);
        return mantissa + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
