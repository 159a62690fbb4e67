package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** JSON values as chat templates see them: objects as ordered maps, arrays as lists, numbers and strings as Java values. */
final class TemplateValues {
    private TemplateValues() {}

    static Object of(JsonNode v) {
        if (v == null || v.isNull() || v.isMissingNode()) return null;
        if (v.isObject()) {
            Map<String, Object> map = new LinkedHashMap<>();
            v.fields().forEachRemaining(e -> map.put(e.getKey(), of(e.getValue())));
            return map;
        }
        if (v.isArray()) {
            List<Object> list = new ArrayList<>(v.size());
            v.forEach(e -> list.add(of(e)));
            return list;
        }
        if (v.isTextual()) return v.textValue();
        if (v.isBoolean()) return v.booleanValue();
        if (v.isIntegralNumber()) return v.canConvertToLong() ? (Object) v.longValue() : v.bigIntegerValue();
        if (v.isNumber()) return v.doubleValue();
        return v.asText();
    }
}
