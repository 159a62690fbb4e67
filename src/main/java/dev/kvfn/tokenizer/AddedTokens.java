package dev.kvfn.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code added_tokens} of a tokenizer.json that one pass looks for (those matched on the raw text, or those
 * matched after normalization): found leftmost-longest through a character trie, as Hugging Face's tokenizers do,
 * before any pre-tokenization, so their text never reaches BPE. {@code lstrip}/{@code rstrip} swallow the
 * whitespace beside a match; a {@code single_word} token matches only between non-word characters.
 */
final class AddedTokens {

    /** One entry of {@code added_tokens}. */
    record Token(int id, String content, boolean special, boolean normalized, boolean lstrip, boolean rstrip, boolean singleWord) {}

    /** A piece of the input starting at {@code start}: plain text ({@code token} null) or one added token. */
    record Fragment(String text, Token token, int start) {}

    private static final class Node {
        final Map<Character, Node> children = new HashMap<>(4);
        final long[] firstChars; // at the root: a bit per char that has a child, so most positions skip the map
        Token token;

        Node(boolean root) {
            firstChars = root ? new long[1 << 10] : null;
        }

        boolean mayStart(char c) {
            return (firstChars[c >>> 6] & (1L << c)) != 0;
        }
    }

    private final Node root = new Node(true);
    private final Node rootWithoutSpecial = new Node(true);

    AddedTokens(List<Token> tokens) {
        for (Token t : tokens) {
            if (t.content().isEmpty()) continue;
            insert(root, t);
            if (!t.special()) insert(rootWithoutSpecial, t);
        }
    }

    private static void insert(Node node, Token t) {
        char first = t.content().charAt(0);
        node.firstChars[first >>> 6] |= 1L << first;
        for (int i = 0; i < t.content().length(); i++) node = node.children.computeIfAbsent(t.content().charAt(i), c -> new Node(false));
        if (node.token == null) node.token = t; // the first entry with this content wins, as a map insert order would
    }

    /** Splits {@code text}; with {@code special} false, special tokens are plain text (HF's split_special_tokens). */
    List<Fragment> split(String text, boolean special) {
        return split(text, special, LiteralSpans.NONE);
    }

    /** As {@link #split(String, boolean)}, and a special token overlapping a {@code literal} span is plain text there. */
    List<Fragment> split(String text, boolean special, LiteralSpans literal) {
        Node trie = special ? root : rootWithoutSpecial;
        List<Fragment> out = new ArrayList<>();
        if (trie.children.isEmpty()) {
            if (!text.isEmpty()) out.add(new Fragment(text, null, 0));
            return out;
        }
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            if (!trie.mayStart(text.charAt(i))) {
                i++;
                continue;
            }
            Token match = longest(trie, text, i);
            if (match != null && match.special() && literal.overlaps(i, i + match.content().length())) {
                match = longest(rootWithoutSpecial, text, i); // user data: its special-token text stays text
            }
            if (match != null && match.singleWord() && !standsAlone(text, i, i + match.content().length())) match = null;
            if (match == null) {
                i++;
                continue;
            }
            int end = i + match.content().length();
            int before = i;
            if (match.lstrip()) while (before > plainStart && isWhitespace(text.charAt(before - 1))) before--;
            if (before > plainStart) out.add(new Fragment(text.substring(plainStart, before), null, plainStart));
            out.add(new Fragment(match.content(), match, i));
            if (match.rstrip()) while (end < text.length() && isWhitespace(text.charAt(end))) end++;
            i = end;
            plainStart = end;
        }
        if (plainStart < text.length()) out.add(new Fragment(text.substring(plainStart), null, plainStart));
        return out;
    }

    /** The longest token of {@code trie} that {@code text} holds at {@code at}, or null. */
    private static Token longest(Node trie, String text, int at) {
        Token match = null;
        Node node = trie;
        for (int j = at; j < text.length(); j++) {
            node = node.children.get(text.charAt(j));
            if (node == null) break;
            if (node.token != null) match = node.token;
        }
        return match;
    }

    private static boolean standsAlone(String text, int start, int end) {
        return (start == 0 || !isWordChar(text.charAt(start - 1))) && (end == text.length() || !isWordChar(text.charAt(end)));
    }

    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    /** Unicode White_Space, as Rust's {@code char::is_whitespace} that the tokenizers crate strips with. */
    private static boolean isWhitespace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }
}
