package dev.kvfn.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Control, user-defined and unknown tokens: splitting text on their literal forms before normal tokenization
 * (llama.cpp's {@code tokenizer_st_partition}, with the whitespace stripping some tokens ask for), and which tokens
 * end generation. What counts as which comes from {@link TokenAttributes}.
 */
final class SpecialTokens {
    /** A piece of the input: plain text to tokenize ({@code token < 0}), or one special token. */
    record Fragment(String text, int token) {}

    private final String[] texts;   // longest (in UTF-8 bytes, as llama.cpp sorts) first
    private final int[] ids;
    private final boolean[] onlyWhenParsing; // control/unknown tokens match only with parseSpecial
    private final boolean[] lstrip, rstrip;   // whitespace before / after the token is dropped
    private final TokenAttributes attributes;
    /** From this many special tokens on, one scan for which occur beats a (vectorized) {@code indexOf} each. */
    private static final int SCAN_FROM = 16;
    private final OccurrenceScan scan; // which texts occur at all, so only those are searched for; null: few tokens

    private SpecialTokens(int[] ids, String[] pieces, TokenAttributes attributes) {
        this.ids = ids;
        this.attributes = attributes;
        texts = new String[ids.length];
        onlyWhenParsing = new boolean[ids.length];
        lstrip = new boolean[ids.length];
        rstrip = new boolean[ids.length];
        for (int k = 0; k < ids.length; k++) {
            texts[k] = pieces[ids[k]];
            onlyWhenParsing[k] = attributes.has(ids[k], TokenAttributes.CONTROL | TokenAttributes.UNKNOWN);
            lstrip[k] = attributes.has(ids[k], TokenAttributes.LSTRIP);
            rstrip[k] = attributes.has(ids[k], TokenAttributes.RSTRIP);
        }
        scan = texts.length >= SCAN_FROM ? new OccurrenceScan(List.of(texts)) : null;
    }

    static SpecialTokens from(String[] pieces, TokenAttributes attributes) {
        // a loop over the whole vocabulary, the stream only over the few special tokens (a cold start interprets this)
        int[] found = new int[pieces.length];
        int count = 0;
        for (int i = 0; i < pieces.length; i++) if (attributes.isSpecial(i) && !pieces[i].isEmpty()) found[count++] = i;
        int[] special = Arrays.stream(found, 0, count)
                .boxed().sorted(Comparator.comparingInt((Integer i) -> -utf8Length(pieces[i])).thenComparingInt(i -> i))
                .mapToInt(Integer::intValue).toArray();
        return new SpecialTokens(special, pieces, attributes);
    }

    boolean isEndOfGeneration(int token) {
        return attributes.isEndOfGeneration(token);
    }

    List<Fragment> partition(String text, boolean parseSpecial) {
        return partition(text, parseSpecial, LiteralSpans.NONE);
    }

    /**
     * Splits {@code text} on special-token text, longest token first (llama.cpp's order), except where an
     * occurrence overlaps one of the {@code literal} spans: that text stays plain (user data never becomes a
     * control token). A token with the lstrip (rstrip) attribute drops the whitespace before (after) it from the
     * text it splits, as llama.cpp does.
     */
    List<Fragment> partition(String text, boolean parseSpecial, LiteralSpans literal) {
        List<Fragment> fragments = new ArrayList<>();
        if (text.isEmpty()) return fragments; // as llama.cpp: no fragment, so no dummy-prefix space either
        List<Piece> pieces = new ArrayList<>();
        pieces.add(new Piece(0, text.length(), -1));
        boolean[] occurs = scan == null ? null : scan.occurring(text); // absent from the text: absent from every piece
        for (int k = 0; k < texts.length; k++) {
            if ((occurs != null && !occurs[k]) || (onlyWhenParsing[k] && !parseSpecial)) continue;
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
                    int left = at;
                    if (lstrip[k]) while (left > from && isSpace(text.charAt(left - 1))) left--;
                    if (left > from) next.add(new Piece(from, left, -1));
                    next.add(new Piece(at, at + needle.length(), ids[k]));
                    from = at + needle.length();
                    if (rstrip[k]) while (from < p.end() && isSpace(text.charAt(from))) from++;
                    at = from - 1;
                }
                if (from < p.end()) next.add(new Piece(from, p.end(), -1));
            }
            pieces = next;
        }
        for (Piece p : pieces) fragments.add(new Fragment(text.substring(p.start(), p.end()), p.token()));
        return fragments;
    }

    /** C's {@code isspace} in the "C" locale, which llama.cpp strips with. */
    private static boolean isSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    private static int utf8Length(String s) {
        int bytes = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isSurrogate(c) ? 2 : 3; // a surrogate pair is 4 bytes
        }
        return bytes;
    }

    /** A fragment as a range of the input while partitioning. */
    private record Piece(int start, int end, int token) {}
}
