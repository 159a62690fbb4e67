package dev.kvfn.model;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A deterministic SentencePiece-style ("llama") vocabulary for synthetic models: {@code <unk>}, {@code <s>},
 * {@code </s>}, the 256 byte-fallback tokens {@code <0x00>}..{@code <0xFF>}, then normal pieces: "▁" and the
 * printable ASCII characters bare and "▁"-prefixed, frequent English words and subwords, and letter n-grams
 * until {@code size} pieces exist. Any text can be encoded (byte fallback covers what the pieces do not).
 *
 * <p>Every multi-character piece is added after all of its prefixes, so SentencePiece's pairwise merging can
 * always build it from single characters; scores grow with piece length (then with earlier rank) so longer
 * pieces are merged first.
 */
public record SyntheticVocabulary(String[] tokens, float[] scores, int[] types) {

    /** llama.cpp {@code llama_token_type} values. */
    public static final int TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_BYTE = 6;
    public static final int UNK = 0, BOS = 1, EOS = 2;
    public static final String SPACE = "\u2581";
    /** Specials plus byte tokens: the least a vocabulary needs to encode any text. */
    public static final int FIXED_TOKENS = 3 + 256;

    // Letters by rough English frequency, so the most useful generated n-grams come first.
    private static final String LETTERS = "etaoinshrdlcumwfgypbvkjxqz";

    // Frequent English (and TinyStories) words, taken with the word-start marker.
    private static final List<String> WORDS = List.of(
            "the", "and", "to", "a", "was", "of", "in", "he", "she", "it", "they", "you", "i", "that", "with", "his",
            "her", "for", "on", "is", "said", "but", "had", "at", "were", "be", "as", "so", "not", "all", "one", "day",
            "there", "time", "upon", "once", "little", "big", "very", "happy", "saw", "play", "wanted", "went", "up",
            "out", "from", "have", "are", "can", "we", "what", "this", "them", "him", "then", "when", "do", "did",
            "could", "would", "like", "go", "see", "friend", "friends", "mom", "dad", "girl", "boy", "named", "park",
            "ball", "tree", "dog", "cat", "bird", "fun", "good", "new", "help", "loved", "love", "look", "looked",
            "came", "come", "back", "about", "into", "some", "other", "more", "no", "yes", "an", "by", "or", "if",
            "my", "your", "their", "our", "me", "us", "will", "just", "how", "who", "which", "because", "after",
            "before", "over", "under", "again", "away", "home", "house", "water", "sun", "sky", "red", "blue",
            "green", "small", "long", "make", "made", "know", "think", "thought", "found", "find", "took", "take",
            "get", "got", "way", "too", "now", "each", "every", "many", "much", "well", "also", "only", "first",
            "last", "people", "world", "year", "years", "work", "life", "hand", "eyes", "head", "place", "thing",
            "things", "something", "nothing", "everyone", "always", "never", "played", "smiled", "laughed", "felt",
            "sad", "scared", "hug", "toy", "car", "box", "food", "eat", "ran", "run", "walk", "walked", "inside",
            "outside", "school", "garden", "flower", "flowers", "together", "learned", "lesson", "kind", "nice");

    // Capitalised sentence starters and story names.
    private static final List<String> CAPITALISED = List.of(
            "The", "Once", "One", "She", "He", "It", "They", "Lily", "Tom", "Ben", "Sue", "Tim", "Max", "Mia", "I",
            "We", "You", "But", "And", "So", "Then", "When", "After", "There", "Mom", "Dad", "Sam", "Anna");

    // Frequent word pieces that occur inside or at the end of words (no word-start marker).
    private static final List<String> SUBWORDS = List.of(
            "ing", "ed", "er", "es", "ly", "ion", "tion", "ment", "ness", "est", "ful", "less", "able", "ous", "ive",
            "al", "en", "an", "in", "on", "re", "st", "th", "ch", "sh", "ll", "ck", "ng", "nd", "ay", "ey", "ow",
            "ou", "ea", "ee", "oo", "ai", "ar", "or", "ir", "ur", "le", "se", "te", "ve", "ne", "ce", "de", "ge");

    public SyntheticVocabulary {
        if (tokens.length != scores.length || tokens.length != types.length) {
            throw new IllegalArgumentException("tokens, scores and types must have the same length");
        }
    }

    public int size() { return tokens.length; }

    /** Builds the vocabulary with exactly {@code size} tokens. */
    public static SyntheticVocabulary of(int size) {
        if (size <= FIXED_TOKENS) {
            throw new IllegalArgumentException("a synthetic vocabulary needs more than " + FIXED_TOKENS
                    + " tokens (3 specials + 256 bytes), got " + size);
        }
        Set<String> pieces = new LinkedHashSet<>(size * 2);
        pieces.add("<unk>");
        pieces.add("<s>");
        pieces.add("</s>");
        for (int b = 0; b < 256; b++) pieces.add(String.format("<0x%02X>", b));

        Pieces normal = new Pieces(pieces, size);
        normal.add(SPACE);
        for (char c = '!'; c <= '~'; c++) normal.add(String.valueOf(c));
        for (char c = '!'; c <= '~'; c++) normal.add(SPACE + c);
        for (String w : WORDS) normal.addWithPrefixes(SPACE + w);
        for (String w : CAPITALISED) normal.addWithPrefixes(SPACE + w);
        for (String w : SUBWORDS) normal.addWithPrefixes(w);
        // n-grams of increasing length: all shorter ones (their prefixes) are already present
        for (int n = 2; !normal.full(); n++) {
            int[] digits = new int[n];
            do {
                StringBuilder sb = new StringBuilder(n);
                for (int d : digits) sb.append(LETTERS.charAt(d));
                normal.add(SPACE + sb);
                normal.add(sb.toString());
            } while (!normal.full() && increment(digits));
        }

        String[] tokens = pieces.toArray(String[]::new);
        float[] scores = new float[size];
        int[] types = new int[size];
        types[UNK] = TYPE_UNKNOWN;
        types[BOS] = TYPE_CONTROL;
        types[EOS] = TYPE_CONTROL;
        for (int i = 3; i < FIXED_TOKENS; i++) types[i] = TYPE_BYTE;
        for (int i = FIXED_TOKENS; i < size; i++) {
            types[i] = TYPE_NORMAL;
            // length dominates; within a length, earlier (more frequent) pieces win ties
            scores[i] = tokens[i].codePointCount(0, tokens[i].length()) - (float) i / size;
        }
        return new SyntheticVocabulary(tokens, scores, types);
    }

    /** Odometer over base-26 digits; false once it wraps around. */
    private static boolean increment(int[] digits) {
        for (int i = digits.length - 1; i >= 0; i--) {
            if (++digits[i] < LETTERS.length()) return true;
            digits[i] = 0;
        }
        return false;
    }

    /** The growing piece set, capped at the target size. */
    private record Pieces(Set<String> set, int limit) {
        boolean full() { return set.size() >= limit; }

        void add(String piece) {
            if (!full()) set.add(piece);
        }

        void addWithPrefixes(String piece) {
            for (int end = 1; end <= piece.length(); end++) add(piece.substring(0, end));
        }
    }
}
