package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * Control and user-defined tokens: splitting text on their literal forms before normal tokenization
 * (llama.cpp's {@code tokenizer_st_partition}), and which tokens end generation.
 */
final class SpecialTokens {
    /** A piece of the input: plain text to tokenize ({@code token < 0}), or one special token. */
    record Fragment(String text, int token) {}

    /** Texts llama.cpp treats as end-of-generation when a vocabulary has them as control tokens. */
    static final Set<String> EOG_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
            "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<|return|>", "<|call|>");

    private final String[] texts;   // longest first
    private final int[] ids;
    private final boolean[] onlyWhenParsing; // control/unknown tokens match only with parseSpecial
    private final Set<Integer> endOfGeneration = new HashSet<>();

    private SpecialTokens(String[] texts, int[] ids, boolean[] onlyWhenParsing) {
        this.texts = texts;
        this.ids = ids;
        this.onlyWhenParsing = onlyWhenParsing;
    }

    static SpecialTokens from(String[] pieces, int[] types, GgufFile gguf) {
        int[] special = IntStream.range(0, pieces.length)
                .filter(i -> types[i] == VocabularyTokenizer.CONTROL || types[i] == VocabularyTokenizer.USER_DEFINED || types[i] == VocabularyTokenizer.UNKNOWN)
                .filter(i -> !pieces[i].isEmpty())
                .boxed().sorted(Comparator.comparingInt((Integer i) -> -pieces[i].length()).thenComparingInt(i -> i))
                .mapToInt(Integer::intValue).toArray();
        String[] texts = new String[special.length];
        boolean[] parsing = new boolean[special.length];
        for (int k = 0; k < special.length; k++) {
            texts[k] = pieces[special[k]];
            parsing[k] = types[special[k]] != VocabularyTokenizer.USER_DEFINED;
        }
        SpecialTokens st = new SpecialTokens(texts, special, parsing);
        for (String key : List.of("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")) {
            long id = gguf.integer(key, -1);
            if (id >= 0 && id < pieces.length) st.endOfGeneration.add((int) id);
        }
        for (int i = 0; i < pieces.length; i++) {
            if (types[i] == VocabularyTokenizer.CONTROL && EOG_TEXTS.contains(pieces[i])) st.endOfGeneration.add(i);
        }
        return st;
    }

    boolean isEndOfGeneration(int token) {
        return endOfGeneration.contains(token);
    }

    List<Fragment> partition(String text, boolean parseSpecial) {
        return partition(text, parseSpecial, LiteralSpans.NONE);
    }

    /**
     * Splits {@code text} on special-token text, longest token first (llama.cpp's order), except where an
     * occurrence overlaps one of the {@code literal} spans: that text stays plain (user data never becomes a
     * control token).
     */
    List<Fragment> partition(String text, boolean parseSpecial, LiteralSpans literal) {
        List<Fragment> fragments = new ArrayList<>();
        if (text.isEmpty()) return fragments; // as llama.cpp: no fragment, so no dummy-prefix space either
        List<Piece> pieces = new ArrayList<>();
        pieces.add(new Piece(0, text.length(), -1));
        for (int k = 0; k < texts.length; k++) {
            if (onlyWhenParsing[k] && !parseSpecial) continue;
            String needle = texts[k];
            List<Piece> next = new ArrayList<>(pieces.size() + 2);
            for (Piece p : pieces) {
                if (p.token() >= 0) {
                    next.add(p);
                    continue;
                }
                int from = p.start();
                for (int at = text.indexOf(needle, from, p.end()); at >= 0; at = text.indexOf(needle, at + 1, p.end())) {
                    if (literal.overlaps(at, at + needle.length())) continue;
                    if (at > from) next.add(new Piece(from, at, -1));
                    next.add(new Piece(at, at + needle.length(), ids[k]));
                    from = at + needle.length();
                    at = from - 1;
                }
                if (from < p.end()) next.add(new Piece(from, p.end(), -1));
            }
            pieces = next;
        }
        for (Piece p : pieces) fragments.add(new Fragment(text.substring(p.start(), p.end()), p.token()));
        return fragments;
    }

    /** A fragment as a range of the input while partitioning. */
    private record Piece(int start, int end, int token) {}
}
