package dev.kvfn.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code tokenizer.json} pre-tokenizer: a {@code Sequence} of {@code Split} (a regex or literal with its
 * behaviour) and {@code ByteLevel} steps, each applied to every piece the previous step produced. The last step's
 * pieces are what BPE merges; {@code ByteLevel} also maps each piece's UTF-8 bytes to GPT-2's printable characters.
 */
record HfPreTokenizer(List<Step> steps, boolean byteLevel) {

    /** GPT-2's split, which {@code ByteLevel} applies when {@code use_regex} is true. */
    private static final Pattern GPT2 = OnigurumaPattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    sealed interface Step permits Split, ByteLevel {
        void apply(String piece, List<String> out);
    }

    enum Behavior { ISOLATED, REMOVED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** {@code Split}: the matches of {@code pattern} (or, inverted, the text between them) as their own pieces. */
    record Split(Pattern pattern, Behavior behavior, boolean invert) implements Step {
        @Override
        public void apply(String piece, List<String> out) {
            // spans alternate: [text between, match, text between, match, ...]; invert swaps the roles
            List<int[]> spans = new ArrayList<>();
            Matcher m = pattern.matcher(piece);
            int last = 0;
            while (m.find()) {
                if (m.end() == m.start()) continue;
                if (m.start() > last) spans.add(new int[] {last, m.start(), invert ? 1 : 0});
                spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
                last = m.end();
            }
            if (last < piece.length()) spans.add(new int[] {last, piece.length(), invert ? 1 : 0});
            // as the tokenizers crate's SplitDelimiterBehavior, over (start, end, isMatch) spans
            List<int[]> pieces = new ArrayList<>(spans.size());
            boolean previousMatch = false;
            switch (behavior) {
                case ISOLATED -> pieces = spans;
                case REMOVED -> spans.stream().filter(s -> s[2] == 0).forEach(pieces::add);
                case MERGED_WITH_PREVIOUS -> { // a delimiter joins the piece before it
                    for (int[] s : spans) {
                        if (s[2] == 1 && !previousMatch && !pieces.isEmpty()) pieces.getLast()[1] = s[1];
                        else pieces.add(s.clone());
                        previousMatch = s[2] == 1;
                    }
                }
                case MERGED_WITH_NEXT -> { // a delimiter joins the piece after it
                    for (int k = spans.size() - 1; k >= 0; k--) {
                        int[] s = spans.get(k);
                        if (s[2] == 1 && !previousMatch && !pieces.isEmpty()) pieces.getLast()[0] = s[0];
                        else pieces.add(s.clone());
                        previousMatch = s[2] == 1;
                    }
                    java.util.Collections.reverse(pieces);
                }
                case CONTIGUOUS -> { // runs of delimiters become one piece
                    for (int[] s : spans) {
                        if ((s[2] == 1) == previousMatch && !pieces.isEmpty()) pieces.getLast()[1] = s[1];
                        else pieces.add(s.clone());
                        previousMatch = s[2] == 1;
                    }
                }
            }
            for (int[] s : pieces) out.add(piece.substring(s[0], s[1]));
        }
    }

    /** {@code ByteLevel}: optionally a leading space and GPT-2's split; the byte mapping happens before BPE. */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements Step {
        @Override
        public void apply(String piece, List<String> out) {
            String text = addPrefixSpace && !piece.startsWith(" ") ? " " + piece : piece;
            if (!useRegex) {
                out.add(text);
                return;
            }
            new Split(GPT2, Behavior.ISOLATED, false).apply(text, out);
        }
    }

    List<String> split(String text) {
        List<String> pieces = List.of(text);
        for (Step step : steps) {
            List<String> next = new ArrayList<>(pieces.size() * 2);
            for (String piece : pieces) step.apply(piece, next);
            pieces = next;
        }
        return pieces;
    }

    /** The {@code pre_tokenizer} of tokenizer.json (null or missing: the whole text is one piece). */
    static HfPreTokenizer fromJson(JsonNode node) {
        List<Step> steps = new ArrayList<>();
        add(node, steps);
        return new HfPreTokenizer(List.copyOf(steps), steps.stream().anyMatch(s -> s instanceof ByteLevel));
    }

    private static void add(JsonNode node, List<Step> steps) {
        if (node == null || node.isNull() || node.isMissingNode()) return;
        String type = node.path("type").asText("");
        switch (type) {
            case "Sequence" -> {
                for (JsonNode p : node.path("pretokenizers")) add(p, steps);
            }
            case "Split" -> {
                JsonNode pattern = node.path("pattern");
                Pattern p;
                if (pattern.has("Regex")) p = OnigurumaPattern.compile(pattern.get("Regex").asText());
                else if (pattern.has("String")) p = Pattern.compile(Pattern.quote(pattern.get("String").asText()));
                else throw new IllegalArgumentException("pre_tokenizer Split has no pattern (Regex or String): " + node);
                steps.add(new Split(p, behavior(node.path("behavior").asText("Isolated")), node.path("invert").asBoolean(false)));
            }
            case "ByteLevel" -> steps.add(new ByteLevel(node.path("add_prefix_space").asBoolean(true), node.path("use_regex").asBoolean(true)));
            default -> throw new IllegalArgumentException("unsupported pre_tokenizer type '" + type
                    + "' (supported: Sequence, Split, ByteLevel)");
        }
    }

    private static Behavior behavior(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "isolated" -> Behavior.ISOLATED;
            case "removed" -> Behavior.REMOVED;
            case "mergedwithprevious" -> Behavior.MERGED_WITH_PREVIOUS;
            case "mergedwithnext" -> Behavior.MERGED_WITH_NEXT;
            case "contiguous" -> Behavior.CONTIGUOUS;
            default -> throw new IllegalArgumentException("unsupported Split behavior '" + name
                    + "' (supported: Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous)");
        };
    }
}
