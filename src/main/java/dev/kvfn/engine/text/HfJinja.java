package dev.kvfn.engine.text;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Jinjava set up to render Hugging Face chat templates as {@code @huggingface/jinja} (and, where they agree, Python's
 * Jinja in transformers) does: trim_blocks and lstrip_blocks; Python's string methods ({@code startswith},
 * {@code endswith}, {@code split}, {@code strip}/{@code lstrip}/{@code rstrip}, {@code upper}, {@code lower},
 * {@code replace}, {@code title}, {@code capitalize}) instead of Java's; {@code tojson} in Python's spelling; {@code trim}; {@code strftime_now};
 * keyword arguments whose value is an expression ({@code namespace(i=messages|length - 1)}) and {@code x[::-1]}, which
 * Jinjava's parser reads differently, are rewritten before parsing.
 */
final class HfJinja {
    private HfJinja() {}

    static Jinjava create() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStrings());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        Jinjava jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                .withFailOnUnknownTokens(false).withElResolver(resolver)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true) // {{- x -}} trims as in Jinja
                        .withParseWhitespaceControlStrictly(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .build());
        var globals = jinjava.getGlobalContext();
        globals.registerFilter(new ToJson());
        globals.registerFilter(new Trim());
        globals.registerFunction(new ELFunctionDefinition("", "strftime_now", HfJinja.class, "strftimeNow", String.class));
        return jinjava;
    }

    // ---- source rewrites for what Jinjava's parser reads differently ----

    private static final Pattern TAG = Pattern.compile("\\{\\{.*?\\}\\}|\\{%.*?%\\}", Pattern.DOTALL);

    /** The template with {@code name=expr} call arguments parenthesized and {@code [::-1]} as {@code |reverse}. */
    static String rewrite(String template) {
        Matcher m = TAG.matcher(template);
        StringBuilder out = new StringBuilder(template.length() + 64);
        int last = 0;
        while (m.find()) {
            out.append(template, last, m.start());
            out.append(rewriteExpression(m.group()));
            last = m.end();
        }
        return out.append(template, last, template.length()).toString();
    }

    private static final Pattern MACRO = Pattern.compile("\\{%[-+]?\\s*(macro|call)\\b");

    private static String rewriteExpression(String tag) {
        String t = tag.replace("[::-1]", "|reverse");
        if (MACRO.matcher(t).lookingAt()) return t; // parameter defaults are not call arguments
        StringBuilder out = new StringBuilder(t.length() + 8);
        List<Integer> closeAt = new ArrayList<>(); // depths whose keyword value is open
        int depth = 0;
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            if (c == '\'' || c == '"') { // copy a string literal whole
                int end = i + 1;
                while (end < t.length() && t.charAt(end) != c) end += t.charAt(end) == '\\' ? 2 : 1;
                end = Math.min(end, t.length() - 1);
                out.append(t, i, end + 1);
                i = end;
                continue;
            }
            if ((c == ',' || c == ')') && closeAt.contains(depth)) {
                out.append(')');
                closeAt.remove(Integer.valueOf(depth));
            }
            if (c == '(' || c == '[' || c == '{') depth++;
            if (c == ')' || c == ']' || c == '}') depth--;
            out.append(c);
            if ((c == '(' || c == ',') && depth > 0) {
                Matcher kw = KEYWORD.matcher(t).region(i + 1, t.length());
                if (kw.lookingAt()) {
                    out.append(kw.group()).append('(');
                    closeAt.add(depth);
                    i = kw.end() - 1;
                }
            }
        }
        return out.toString();
    }

    private static final Pattern KEYWORD = Pattern.compile("\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=(?!=)\\s*");

    // ---- Python's str methods ----

    /** Resolves method calls on strings to Python's {@code str} methods, before Jinjava would look for Java's. */
    static final class PythonStrings extends ELResolver {
        @Override
        public Object invoke(ELContext context, Object base, Object method, Class<?>[] types, Object[] params) {
            if (!(base instanceof String s) || method == null) return null;
            Object[] args = params == null ? new Object[0] : params;
            Object result = switch (method.toString()) {
                case "startswith" -> affix(s, args, true);
                case "endswith" -> affix(s, args, false);
                case "split" -> split(s, args);
                case "strip" -> jsTrim(s, true, true);
                case "lstrip" -> jsTrim(s, true, false);
                case "rstrip" -> jsTrim(s, false, true);
                case "upper" -> s.toUpperCase(Locale.ROOT);
                case "lower" -> s.toLowerCase(Locale.ROOT);
                case "replace" -> replace(s, args);
                case "title" -> title(s);
                case "capitalize" -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1); // as the JS port: the rest unchanged
                default -> null;
            };
            if (result != null) context.setPropertyResolved(true);
            return result;
        }

        private static Boolean affix(String s, Object[] args, boolean start) {
            if (args.length == 0) throw new IllegalArgumentException((start ? "startswith" : "endswith") + "() needs an argument");
            List<?> options = args[0] instanceof List<?> l ? l : List.of(String.valueOf(args[0]));
            for (Object o : options) if (start ? s.startsWith(String.valueOf(o)) : s.endsWith(String.valueOf(o))) return true;
            return false;
        }

        /** Python's {@code str.split(sep=None, maxsplit=-1)}: empty pieces kept; without sep, runs of whitespace. */
        private static List<String> split(String s, Object[] args) {
            String sep = args.length > 0 && args[0] != null ? String.valueOf(args[0]) : null;
            int max = args.length > 1 && args[1] instanceof Number n ? n.intValue() : -1;
            List<String> parts = new ArrayList<>();
            if (sep == null) {
                String text = jsTrim(s, true, false);
                Matcher m = NON_SPACE.matcher(text);
                while (m.find()) {
                    if (max >= 0 && parts.size() >= max) {
                        parts.add(text.substring(m.start()));
                        break;
                    }
                    parts.add(m.group());
                }
                return parts;
            }
            if (sep.isEmpty()) throw new IllegalArgumentException("split(): empty separator");
            int from = 0;
            for (int at; (max < 0 || parts.size() < max) && (at = s.indexOf(sep, from)) >= 0; from = at + sep.length()) {
                parts.add(s.substring(from, at));
            }
            parts.add(s.substring(from));
            return parts;
        }

        /** Upper-cases the first word character of every word, as the JS port's {@code /\\b\\w/g}. */
        private static String title(String s) {
            StringBuilder sb = new StringBuilder(s);
            for (int i = 0; i < sb.length(); i++) {
                boolean word = isAsciiWord(sb.charAt(i));
                if (word && (i == 0 || !isAsciiWord(sb.charAt(i - 1)))) sb.setCharAt(i, Character.toUpperCase(sb.charAt(i)));
            }
            return sb.toString();
        }

        private static boolean isAsciiWord(char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        }

        private static String replace(String s, Object[] args) {
            if (args.length < 2) throw new IllegalArgumentException("replace() needs two arguments");
            String old = String.valueOf(args[0]), with = String.valueOf(args[1]);
            int count = args.length > 2 && args[2] instanceof Number n ? n.intValue() : -1;
            if (count < 0) return s.replace(old, with);
            StringBuilder sb = new StringBuilder();
            int from = 0;
            for (int done = 0, at; done < count && (at = s.indexOf(old, from)) >= 0 && !(old.isEmpty() && at >= s.length()); done++) {
                sb.append(s, from, at).append(with);
                from = at + old.length();
                if (old.isEmpty()) sb.append(s.charAt(from++));
            }
            return sb.append(s, Math.min(from, s.length()), s.length()).toString();
        }

        @Override public Object getValue(ELContext context, Object base, Object property) { return null; }
        @Override public Class<?> getType(ELContext context, Object base, Object property) { return null; }
        @Override public void setValue(ELContext context, Object base, Object property, Object value) { }
        @Override public boolean isReadOnly(ELContext context, Object base, Object property) { return true; }
        @Override public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) { return null; }
        @Override public Class<?> getCommonPropertyType(ELContext context, Object base) { return null; }
    }

    private static final Pattern NON_SPACE = Pattern.compile("[^\\s\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]+");

    /**
     * JavaScript's {@code trim}: what {@code @huggingface/jinja} does for {@code |trim} and for {@code strip()},
     * {@code lstrip()} and {@code rstrip()} with or without an argument (Python would strip only the given
     * characters, and a slightly different whitespace set).
     */
    static String jsTrim(String s, boolean leading, boolean trailing) {
        int start = 0, end = s.length();
        if (leading) while (start < end && jsSpace(s.charAt(start))) start++;
        if (trailing) while (end > start && jsSpace(s.charAt(end - 1))) end--;
        return s.substring(start, end);
    }

    private static boolean jsSpace(char c) {
        return c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r' || c == ' ' || c == 0xA0 || c == 0xFEFF
                || c == 0x2028 || c == 0x2029 || Character.getType(c) == Character.SPACE_SEPARATOR;
    }

    /** {@code |trim}. */
    static final class Trim implements Filter {
        @Override public String getName() { return "trim"; }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return var == null ? "" : jsTrim(var.toString(), true, true);
        }
    }

    /** {@code |tojson} and {@code |tojson(indent=n)}: Python's json.dumps spelling (see {@link TemplateJson}). */
    static final class ToJson implements Filter {
        @Override public String getName() { return "tojson"; }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return TemplateJson.dumps(TemplateJson.MAPPER.valueToTree(var));
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.getOrDefault("indent", args.length > 0 ? args[0] : null);
            var tree = TemplateJson.MAPPER.valueToTree(var);
            return indent instanceof Number n ? TemplateJson.dumps(tree, n.intValue()) : TemplateJson.dumps(tree);
        }
    }

    /** {@code strftime_now(format)} for the formats chat templates use (%Y %m %d %b %B %H %M %S %%), in UTC. */
    public static String strftimeNow(String format) {
        ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                sb.append(c);
                continue;
            }
            char f = format.charAt(++i);
            switch (f) {
                case 'Y' -> sb.append(now.getYear());
                case 'm' -> sb.append(String.format("%02d", now.getMonthValue()));
                case 'd' -> sb.append(String.format("%02d", now.getDayOfMonth()));
                case 'b' -> sb.append(now.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> sb.append(now.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'H' -> sb.append(String.format("%02d", now.getHour()));
                case 'M' -> sb.append(String.format("%02d", now.getMinute()));
                case 'S' -> sb.append(String.format("%02d", now.getSecond()));
                case '%' -> sb.append('%');
                default -> sb.append('%').append(f);
            }
        }
        return sb.toString();
    }
}
