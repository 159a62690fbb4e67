package dev.kvfn.tokenizer;

import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles a {@code tokenizer.json} regular expression (written for Oniguruma, which Hugging Face's tokenizers
 * use) to a {@link Pattern} with the same meaning, as Hugging Face's JS port translates it: shorthands take their
 * Unicode sets ({@code \s} is White_Space, so U+0085 is a space and U+FEFF is not; {@code \d} is Nd; {@code \w}
 * letters, marks, Nd and Pc), {@code \h} is a hex digit (not Java's horizontal space), {@code .} excludes only
 * {@code \n}, {@code ^}/{@code $} see only {@code \n} as a line end, {@code (?i:...)} folds ASCII letters only, and
 * {@code X{n}+} repeats {@code X{n}} (Oniguruma has no possessive interval).
 */
final class OnigurumaPattern {
    private OnigurumaPattern() {}

    private static final String WORD = "\\p{IsAlphabetic}\\p{M}\\p{Nd}\\p{Pc}";

    static Pattern compile(String regex) {
        String java = translate(regex);
        try {
            // no UNICODE_CHARACTER_CLASS: it would make (?i) fold beyond ASCII; the shorthands are spelled out instead
            return Pattern.compile(java, Pattern.MULTILINE | Pattern.UNIX_LINES);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("tokenizer regex cannot be compiled: " + regex + " (" + e.getDescription() + ")", e);
        }
    }

    static String translate(String regex) {
        StringBuilder out = new StringBuilder(regex.length() * 2);
        int i = 0;
        int inClass = 0;
        while (i < regex.length()) {
            char c = regex.charAt(i);
            if (c == '\\' && i + 1 < regex.length()) {
                char e = regex.charAt(i + 1);
                String replacement = inClass > 0 ? classEscape(e) : escape(e);
                if (replacement != null) {
                    out.append(replacement);
                } else if ((e == 'p' || e == 'P') && i + 2 < regex.length() && regex.charAt(i + 2) == '{') {
                    int close = regex.indexOf('}', i + 3);
                    if (close < 0) throw new IllegalArgumentException("tokenizer regex: unclosed \\p{ in " + regex);
                    out.append('\\').append(e).append('{').append(property(regex.substring(i + 3, close))).append('}');
                    i = close + 1;
                    continue;
                } else {
                    out.append(c).append(e);
                }
                i += 2;
                continue;
            }
            if (inClass > 0) {
                if (c == '[') {
                    if (regex.startsWith("[:", i)) throw new IllegalArgumentException("tokenizer regex: POSIX classes are not supported: " + regex);
                    inClass++;
                } else if (c == ']') {
                    inClass--;
                }
                out.append(c);
                i++;
                continue;
            }
            switch (c) {
                case '[' -> {
                    inClass = 1;
                    out.append(c);
                    if (i + 1 < regex.length() && regex.charAt(i + 1) == '^') {
                        out.append('^');
                        i++;
                    }
                    if (i + 1 < regex.length() && regex.charAt(i + 1) == ']') { // a leading ] is literal
                        out.append("\\]");
                        i++;
                    }
                }
                case '{' -> {
                    int close = regex.indexOf('}', i);
                    String body = close < 0 ? "" : regex.substring(i + 1, close);
                    if (body.matches("\\d+(,\\d*)?|,\\d+") && close + 1 < regex.length() && regex.charAt(close + 1) == '+') {
                        // Oniguruma: X{n,m}+ is (X{n,m})+; Java would read it as possessive
                        int atom = atomStart(out);
                        out.insert(atom, "(?:").append('{').append(body.startsWith(",") ? "0" + body : body).append("})+");
                        i = close + 2;
                        continue;
                    }
                    if (body.matches("\\d+(,\\d*)?|,\\d+")) {
                        out.append('{').append(body.startsWith(",") ? "0" + body : body).append('}');
                        i = close + 1;
                        continue;
                    }
                    out.append("\\{");
                }
                case '}' -> out.append("\\}");
                default -> out.append(c);
            }
            i++;
        }
        return out.toString();
    }

    /** Where the last atom written to {@code out} starts (a group, a class, an escape or one character). */
    private static int atomStart(StringBuilder out) {
        int end = out.length() - 1;
        char last = out.charAt(end);
        if (last == ')') {
            int depth = 0;
            for (int k = end; k >= 0; k--) {
                char ch = out.charAt(k);
                if (k > 0 && out.charAt(k - 1) == '\\') continue;
                if (ch == ')') depth++;
                else if (ch == '(' && --depth == 0) return k;
            }
        } else if (last == ']' || last == '}') {
            int depth = 0;
            char open = last == ']' ? '[' : '{';
            for (int k = end; k >= 0; k--) {
                char ch = out.charAt(k);
                if (k > 0 && out.charAt(k - 1) == '\\') continue;
                if (ch == last) depth++;
                else if (ch == open && --depth == 0) {
                    // \p{..}: include the escape
                    return k >= 2 && out.charAt(k - 2) == '\\' ? k - 2 : k;
                }
            }
        } else if (end >= 1 && out.charAt(end - 1) == '\\') {
            return end - 1;
        }
        return end;
    }

    private static String escape(char e) {
        return switch (e) {
            case 's' -> "\\p{IsWhite_Space}";
            case 'S' -> "\\P{IsWhite_Space}";
            case 'd' -> "\\p{Nd}";
            case 'D' -> "\\P{Nd}";
            case 'w' -> "[" + WORD + "]";
            case 'W' -> "[^" + WORD + "]";
            case 'h' -> "[0-9A-Fa-f]";
            case 'H' -> "[^0-9A-Fa-f]";
            case 'b' -> "(?:(?<![" + WORD + "])(?=[" + WORD + "])|(?<=[" + WORD + "])(?![" + WORD + "]))";
            case 'B' -> "(?:(?<![" + WORD + "])(?![" + WORD + "])|(?<=[" + WORD + "])(?=[" + WORD + "]))";
            case 'A' -> "\\A";
            case 'z' -> "\\z";
            case 'Z' -> "(?=\\n?\\z)";
            case 'a' -> "\\x07";
            case 'e' -> "\\x1B";
            default -> null;
        };
    }

    private static String classEscape(char e) {
        return switch (e) {
            case 's' -> "\\p{IsWhite_Space}";
            case 'S' -> "\\P{IsWhite_Space}";
            case 'd' -> "\\p{Nd}";
            case 'D' -> "\\P{Nd}";
            case 'w' -> WORD;
            case 'W' -> "[^" + WORD + "]";
            case 'h' -> "0-9A-Fa-f";
            case 'H' -> "[^0-9A-Fa-f]";
            case 'a' -> "\\x07";
            case 'e' -> "\\x1B";
            default -> null;
        };
    }

    /** A property name as Java spells it: general categories as they are, scripts and binary properties with Is. */
    private static String property(String name) {
        if (name.matches("L[ultmo]?|M[nce]?|N[dlo]?|P[cdseifo]?|S[mcko]?|Z[slp]?|C[cfson]?")) return name;
        return name.startsWith("Is") || name.contains("=") ? name : "Is" + name;
    }
}
