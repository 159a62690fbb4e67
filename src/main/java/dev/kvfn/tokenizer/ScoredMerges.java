package dev.kvfn.tokenizer;

import java.util.Arrays;

/**
 * SentencePiece-style merging of adjacent symbols, shared by {@link SpmTokenizer} and {@link Llama2cTokenizer}:
 * which pair of symbols merges into which token (a hash of (left symbol, right symbol), filled once per
 * vocabulary), and the greedy loop that repeatedly merges the adjacent pair whose token has the highest score,
 * the leftmost pair among equal scores, until no adjacent pair is in the table.
 *
 * <p>The loop is O(n log n): a binary heap of candidate pairs over a doubly linked list of symbols. A merge only
 * changes the merged symbol and its two neighbours' pairs, so it adds at most two candidates (8 bytes each: the
 * order key alone); candidates made stale by an earlier merge stay in the heap and are skipped when they surface. Before that the text is cut
 * where no merge can ever reach across: between two characters that are adjacent in no piece. Each run between
 * such cuts merges on its own (the result is the same, since merges in one run never change another's pairs),
 * which keeps the heap as small as a word for ordinary text.
 *
 * <p>Symbols are token ids, or ids past the vocabulary that the tokenizer gives characters occurring only inside
 * longer pieces; negative symbols never merge. Filled by the tokenizer's constructor, then only read: safe to
 * share once the tokenizer is published.
 */
final class ScoredMerges {
    private static final int DEAD = -2; // next[] of a symbol merged into its left neighbour

    /** (left symbol, right symbol) to the token they merge into. */
    private final PairTable pairs;
    /** (character, character) pairs that occur next to each other in some piece; only the key matters. */
    private final PairTable adjacent = new PairTable(1024);
    /** First and last character of each symbol's text; -1 for an empty text (a cut is never made next to it). */
    private final int[] firstChar, lastChar;
    private final float[] scores;
    private final int[] canonical;

    /**
     * @param texts     each symbol's text, by symbol id (the vocabulary's pieces, then any extra symbols)
     * @param scores    the score of each token a pair can merge into
     * @param canonical for each symbol below its length, the symbol its pairs are keyed by (a token whose piece
     *                  repeats an earlier one merges like that one); null when every symbol is its own key
     */
    ScoredMerges(String[] texts, float[] scores, int[] canonical, int expectedPairs) {
        this.scores = scores;
        this.canonical = canonical;
        this.pairs = new PairTable(expectedPairs);
        firstChar = new int[texts.length];
        lastChar = new int[texts.length];
        for (int s = 0; s < texts.length; s++) {
            String t = texts[s];
            firstChar[s] = t.isEmpty() ? -1 : t.codePointAt(0);
            lastChar[s] = t.isEmpty() ? -1 : t.codePointBefore(t.length());
            for (int i = 0, prev = -1; i < t.length(); ) {
                int cp = t.codePointAt(i);
                if (prev >= 0) adjacent.putIfAbsent(prev, cp, 1);
                prev = cp;
                i += Character.charCount(cp);
            }
        }
    }

    /** Records that {@code left} followed by {@code right} merges into token {@code into}; the first record wins. */
    void add(int left, int right, int into) {
        if (left < 0 || right < 0 || into < 0) throw new IllegalArgumentException("symbols and tokens are non-negative");
        pairs.putIfAbsent(left, right, into);
    }

    /** The token {@code left} followed by {@code right} merges into, or -1; negative symbols never merge. */
    int merged(int left, int right) {
        if (left < 0 || right < 0) return -1;
        if (canonical != null) {
            if (left < canonical.length) left = canonical[left];
            if (right < canonical.length) right = canonical[right];
        }
        return pairs.get(left, right);
    }

    /**
     * Merges {@code symbols[from..to)} in place, highest-scoring pair first and leftmost among equal scores, until
     * no adjacent pair merges; returns the end of what is left, in text order at {@code symbols[from..result)}.
     */
    int mergeAll(int[] symbols, int from, int to) {
        if (to - from < 2) return to;
        Runs runs = new Runs(to - from);
        int end = from; // where the merged runs so far end
        int runStart = from;
        for (int i = from + 1; i <= to; i++) {
            if (i < to && !cut(symbols[i - 1], symbols[i])) continue;
            end = runs.merge(symbols, runStart, i, end);
            runStart = i;
        }
        return end;
    }

    /** Whether no merge can ever join a span ending in {@code left} with one starting in {@code right}. */
    private boolean cut(int left, int right) {
        if (left < 0 || right < 0) return true;
        int a = left < lastChar.length ? lastChar[left] : -1, b = right < firstChar.length ? firstChar[right] : -1;
        if (a < 0 || b < 0) return false;
        return adjacent.get(a, b) < 0;
    }

    /** Heap order: higher score first (NaN above all, -0 equal to 0), then the leftmost pair. */
    static long order(float score, int left) {
        int bits = Float.floatToIntBits(score + 0.0f);
        int ascending = bits ^ ((bits >> 31) & 0x7fffffff); // signed int order is float order
        return ((long) ~ascending << 32) | left;
    }

    /** The work space of one {@link #mergeAll}: the linked list and the heap, reused by each run. */
    private final class Runs {
        final int[] prev, next;
        final Candidates queue;

        Runs(int capacity) {
            prev = new int[capacity];
            next = new int[capacity];
            queue = new Candidates(Math.min(capacity, 1024));
        }

        /** Merges {@code symbols[start..end)} and moves what is left to {@code symbols[at..)}; returns its end. */
        int merge(int[] symbols, int start, int end, int at) {
            int n = end - start;
            if (n == 1) {
                symbols[at] = symbols[start];
                return at + 1;
            }
            // indices below are relative to start: symbol i is symbols[start + i]
            for (int i = 0; i < n; i++) {
                prev[i] = i - 1;
                next[i] = i + 1 < n ? i + 1 : -1;
            }
            queue.clear();
            for (int i = 1; i < n; i++) offer(symbols, start, i - 1, i);
            while (!queue.isEmpty()) {
                long order = queue.pop();
                int left = (int) order, right = next[left];
                // A candidate holds only its order (score, left). It stands for whatever pair starts at left now
                // when that pair's order is the same: the pair current there was offered with exactly this order,
                // so acting on it is what the queue would do next anyway; any other candidate is stale.
                if (right < 0) continue; // merged away (DEAD) or the last symbol
                int into = merged(symbols[start + left], symbols[start + right]);
                if (into < 0 || order(scores[into], left) != order) continue;
                symbols[start + left] = into;
                int rightNext = next[right];
                next[left] = rightNext;
                next[right] = DEAD;
                if (rightNext >= 0) prev[rightNext] = left;
                if (prev[left] >= 0) offer(symbols, start, prev[left], left);
                if (rightNext >= 0) offer(symbols, start, left, rightNext);
            }
            for (int i = 0; i >= 0; i = next[i]) symbols[at++] = symbols[start + i]; // symbol 0 is never merged away
            return at;
        }

        private void offer(int[] symbols, int start, int left, int right) {
            int into = merged(symbols[start + left], symbols[start + right]);
            if (into >= 0) queue.push(order(scores[into], left));
        }
    }

    /**
     * Candidate orders, least first: a 4-ary min-heap (half the depth of a binary one; four children share a cache
     * line), and in front of it a queue of orders that arrived in non-decreasing order. Repetitive text ("aaaa…")
     * offers its candidates in order, so they pass through the queue in O(1) instead of sifting through a heap of
     * the whole text; other text goes through the heap.
     */
    private static final class Candidates {
        long[] heap, sorted;
        int size, head, tail;

        Candidates(int capacity) {
            heap = new long[capacity];
            sorted = new long[capacity];
        }

        boolean isEmpty() {
            return size == 0 && head == tail;
        }

        void clear() {
            size = head = tail = 0;
        }

        void push(long o) {
            if (head == tail || o >= sorted[tail - 1]) {
                if (tail == sorted.length) {
                    if (head > 0) { // reuse the consumed front
                        System.arraycopy(sorted, head, sorted, 0, tail - head);
                        tail -= head;
                        head = 0;
                    }
                    if (tail == sorted.length) sorted = Arrays.copyOf(sorted, tail + (tail >> 1) + 1);
                }
                if (head == tail) head = tail = 0;
                sorted[tail++] = o;
                return;
            }
            if (size == heap.length) heap = Arrays.copyOf(heap, size + (size >> 1) + 1);
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 2;
                if (heap[parent] <= o) break;
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = o;
        }

        long pop() {
            if (head < tail && (size == 0 || sorted[head] <= heap[0])) return sorted[head++];
            long top = heap[0];
            int last = --size;
            if (last == 0) return top;
            long o = heap[last];
            int i = 0;
            while (true) {
                int first = 4 * i + 1;
                if (first >= last) break;
                int child = first;
                long min = heap[first];
                for (int c = first + 1, end = Math.min(first + 4, last); c < end; c++) {
                    if (heap[c] < min) {
                        min = heap[c];
                        child = c;
                    }
                }
                if (o <= min) break;
                heap[i] = min;
                i = child;
            }
            heap[i] = o;
            return top;
        }
    }

    /** Open addressing from a pair of non-negative ints to a non-negative int. */
    private static final class PairTable {
        private static final long EMPTY = -1L; // keys (a << 32 | b) of non-negative ints are never negative
        private long[] keys;
        private int[] values;
        private int size;

        PairTable(int expected) {
            int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
            keys = new long[capacity];
            values = new int[capacity];
            Arrays.fill(keys, EMPTY);
        }

        void putIfAbsent(int a, int b, int value) {
            if ((size + 1) * 2 > keys.length) grow();
            long key = key(a, b);
            int slot = slot(key);
            if (keys[slot] == EMPTY) {
                keys[slot] = key;
                values[slot] = value;
                size++;
            }
        }

        int get(int a, int b) {
            long key = key(a, b);
            int mask = keys.length - 1;
            for (int slot = hash(key) & mask; ; slot = (slot + 1) & mask) {
                long k = keys[slot];
                if (k == key) return values[slot];
                if (k == EMPTY) return -1;
            }
        }

        private static long key(int a, int b) {
            return ((long) a << 32) | b;
        }

        private static int hash(long key) {
            return (int) ((key * 0x9E3779B97F4A7C15L) >>> 32);
        }

        private int slot(long key) {
            int mask = keys.length - 1;
            int slot = hash(key) & mask;
            while (keys[slot] != EMPTY && keys[slot] != key) slot = (slot + 1) & mask;
            return slot;
        }

        private void grow() {
            long[] oldKeys = keys;
            int[] oldValues = values;
            keys = new long[oldKeys.length * 2];
            values = new int[oldKeys.length * 2];
            Arrays.fill(keys, EMPTY);
            for (int i = 0; i < oldKeys.length; i++) {
                if (oldKeys[i] == EMPTY) continue;
                int slot = slot(oldKeys[i]);
                keys[slot] = oldKeys[i];
                values[slot] = oldValues[i];
            }
        }
    }
}
