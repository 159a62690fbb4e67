package dev.kvfn.engine.structured;

import dev.kvfn.tokenizer.Tokenizer;

import java.util.HashMap;
import java.util.Map;

/**
 * A {@link Grammar} over one model's {@link TokenVocabulary}: which tokens each parse state allows, and where each
 * token leads. Both are computed once per distinct state and cached, so a sequence in a state seen before (inside
 * a string, between properties, in another request with the same schema) pays a map lookup for its next state and
 * a pass over a precomputed token list for its mask. Shared by every sequence that uses the same grammar and
 * model; thread-safe (the caches are guarded by this object, uncontended on the engine thread).
 *
 * <p>The caches are bounded: past {@value #MAX_STATES} states or {@value #MAX_CACHED_IDS} cached token ids they are
 * dropped and refilled on demand (cursors holding a dropped state keep working; it is recomputed as needed).
 */
public final class TokenConstraint {
    static final int MAX_STATES = 50_000;
    static final long MAX_CACHED_IDS = 16L << 20;

    private final Grammar grammar;
    private final TokenVocabulary vocabulary;
    private final Map<ParseState, Node> states = new HashMap<>();
    private long cachedIds;
    private Node start;
    // the mask walk's scratch, one collector per trie depth (guarded by this)
    private ParseState.Collector[] collectors = new ParseState.Collector[0];
    private long[] bits;

    /** One parse state with what has been worked out about it so far. Fields guarded by the constraint. */
    static final class Node {
        final ParseState state;
        /** Allowed token ids ({@code listAllowed}) or disallowed ones, whichever is shorter; null until computed. */
        int[] list;
        boolean listAllowed;
        int allowedCount;
        // token id -> next node, open addressing
        int[] keys;
        Node[] next;
        int entries;

        Node(ParseState state) { this.state = state; }

        Node transition(int token) {
            if (keys == null) return null;
            int mask = keys.length - 1;
            for (int i = mix(token) & mask; ; i = (i + 1) & mask) {
                if (next[i] == null) return null;
                if (keys[i] == token) return next[i];
            }
        }

        void putTransition(int token, Node to) {
            if (keys == null) {
                keys = new int[8];
                next = new Node[8];
            } else if (2 * (entries + 1) > keys.length) {
                int[] oldKeys = keys;
                Node[] oldNext = next;
                keys = new int[oldKeys.length * 2];
                next = new Node[oldKeys.length * 2];
                entries = 0;
                for (int i = 0; i < oldKeys.length; i++) if (oldNext[i] != null) putTransition(oldKeys[i], oldNext[i]);
            }
            int mask = keys.length - 1;
            int i = mix(token) & mask;
            while (next[i] != null) i = (i + 1) & mask;
            keys[i] = token;
            next[i] = to;
            entries++;
        }

        private static int mix(int x) { return x * 0x9E3779B1 >>> 7; }
    }

    private TokenConstraint(Grammar grammar, TokenVocabulary vocabulary) {
        this.grammar = grammar;
        this.vocabulary = vocabulary;
        this.bits = new long[(vocabulary.size + 63) >>> 6];
    }

    /** {@code grammar} over the tokens of {@code tokenizer}. */
    public static TokenConstraint of(Grammar grammar, Tokenizer tokenizer) {
        return new TokenConstraint(grammar, TokenVocabulary.of(tokenizer));
    }

    public Grammar grammar() { return grammar; }

    public TokenVocabulary vocabulary() { return vocabulary; }

    /** A cursor at the start of the output, for one sequence. */
    public ConstraintCursor start() {
        synchronized (this) {
            if (start == null) start = intern(ParseState.start(grammar));
            return new ConstraintCursor(this, start);
        }
    }

    /** {@code node} with its token list computed. */
    synchronized Node masked(Node node) {
        if (node.list == null) computeMask(node);
        return node;
    }

    /** Where {@code token} leads from {@code node}; null when the token is not allowed there. */
    synchronized Node next(Node node, int token) {
        Node to = node.transition(token);
        if (to != null) return to;
        if (token < 0 || token >= vocabulary.size || vocabulary.ends[token]) return null;
        byte[] bytes = vocabulary.bytes[token];
        if (bytes.length == 0) return null;
        ParseState s = node.state.advance(bytes);
        if (s.isDead()) return null;
        to = intern(s);
        node.putTransition(token, to);
        return to;
    }

    private Node intern(ParseState s) {
        Node n = states.get(s);
        if (n != null) return n;
        if (states.size() >= MAX_STATES || cachedIds >= MAX_CACHED_IDS) {
            for (Node old : states.values()) { // drop the graph, so nothing old stays reachable through transitions
                old.keys = null;
                old.next = null;
                old.entries = 0;
            }
            states.clear();
            cachedIds = 0;
            start = null;
        }
        n = new Node(s);
        states.put(s, n);
        return n;
    }

    private void computeMask(Node node) {
        java.util.Arrays.fill(bits, 0L);
        ParseState s = node.state;
        if (s.canContinue()) walk(0, s.stacks, s.stacks.length, 0);
        if (s.accepting()) for (int t : vocabulary.endOfGeneration) bits[t >>> 6] |= 1L << t;
        int allowed = 0;
        for (long w : bits) allowed += Long.bitCount(w);
        boolean listAllowed = allowed <= vocabulary.size / 2;
        int[] list = new int[listAllowed ? allowed : vocabulary.size - allowed];
        int k = 0;
        for (int t = 0; t < vocabulary.size; t++) {
            boolean on = (bits[t >>> 6] >>> t & 1L) != 0;
            if (on == listAllowed) list[k++] = t;
        }
        node.list = list;
        node.listAllowed = listAllowed;
        node.allowedCount = allowed;
        cachedIds += list.length;
    }

    /** Marks every token below trie node {@code trie} whose bytes the stacks {@code from[0..n)} can read. */
    private void walk(int trie, ParseState.Frame[] from, int n, int depth) {
        TokenVocabulary v = vocabulary;
        if (depth == collectors.length) {
            collectors = java.util.Arrays.copyOf(collectors, depth + 1);
            collectors[depth] = new ParseState.Collector();
        }
        ParseState.Collector c = collectors[depth];
        for (int e = v.edgeStart[trie], end = v.edgeStart[trie + 1]; e < end; e++) {
            c.clear();
            ParseState.step(grammar, from, n, v.edgeByte[e] & 0xff, c);
            if (c.isDead()) continue;
            int child = v.edgeTarget[e];
            for (int i = v.tokenStart[child]; i < v.tokenStart[child + 1]; i++) {
                int t = v.tokenIds[i];
                bits[t >>> 6] |= 1L << t;
            }
            if (c.size > 0 && v.edgeStart[child] < v.edgeStart[child + 1]) {
                walk(child, c.frames, c.size, depth + 1);
                c = collectors[depth]; // the same object; re-read after the recursion may have grown the array
            }
        }
    }
}
