package dev.kvfn.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The BPE merge engine shared by GGUF ({@link BpeTokenizer}) and Hugging Face ({@link HfTokenizer}) vocabularies:
 * a word's characters become symbols, and the adjacent pair with the lowest merge rank (leftmost on ties) merges
 * until no pair has a rank. Symbols and pairs are ids, so a merge step is one hash probe and one heap operation:
 * O(n log n) per word. Merge results outside the vocabulary get ids past it, so even an inconsistent vocabulary
 * merges exactly as the string-based reference implementations do.
 */
final class BpeMerges {
    /** A symbol of the word that is in no merge and not in the vocabulary. */
    private static final int UNKNOWN = -1;

    private final Map<String, Integer> vocabulary;
    private final int vocabularySize;
    private final Map<String, Integer> symbols = new HashMap<>(); // texts outside the vocabulary that merges produce
    private final int[] bmpChars = new int[Character.MAX_VALUE + 1]; // single BMP characters to symbols
    private final PairMap merges;

    /**
     * @param vocabulary piece to id (ids below {@code vocabularySize})
     * @param pairs      the merges by rank: left and right symbol texts
     */
    BpeMerges(Map<String, Integer> vocabulary, int vocabularySize, List<String[]> pairs) {
        this.vocabulary = vocabulary;
        this.vocabularySize = vocabularySize;
        merges = new PairMap(pairs.size());
        List<String[]> ordered = new ArrayList<>(pairs);
        for (int rank = 0; rank < ordered.size(); rank++) {
            String[] p = ordered.get(rank);
            int left = symbol(p[0]), right = symbol(p[1]);
            long key = PairMap.key(left, right);
            if (merges.get(key) < 0) merges.put(key, ((long) rank << 32) | symbol(p[0] + p[1]));
        }
        Arrays.fill(bmpChars, UNKNOWN);
        for (char c = 0; c < Character.MAX_VALUE; c++) {
            if (Character.isSurrogate(c)) continue;
            Integer id = lookup(String.valueOf(c));
            if (id != null) bmpChars[c] = id;
        }
    }

    private Integer lookup(String text) {
        Integer id = vocabulary.get(text);
        return id != null ? id : symbols.get(text);
    }

    private int symbol(String text) {
        Integer id = lookup(text);
        if (id != null) return id;
        int fresh = vocabularySize + symbols.size();
        symbols.put(text, fresh);
        return fresh;
    }

    /** The vocabulary id of a whole word, or -1 (for {@code ignore_merges}). */
    int wholeWord(String word) {
        Integer id = vocabulary.get(word);
        return id == null ? -1 : id;
    }

    /** What to emit for a merged span that is not a vocabulary piece (cannot happen with a consistent vocabulary). */
    @FunctionalInterface
    interface Fallback {
        void emit(String word, int start, int end, IntList out);
    }

    /**
     * Reusable per-call buffers, so encoding many words allocates only when a longer word comes, and the ids of the
     * short words seen so far: ordinary text repeats most of its words, and a word's ids depend on nothing else.
     */
    static final class Scratch {
        private static final int CACHED_WORD_LENGTH = 32, CACHED_WORDS = 1 << 16;

        int[] symbol = new int[0], start, end, prev, next;
        long[] initial = new long[0], heap = new long[0];
        private final Map<String, int[]> words = new HashMap<>();

        /** Appends the ids of {@code word} if they are known; false if the word must be encoded. */
        boolean appendCached(String word, IntList out) {
            if (word.length() > CACHED_WORD_LENGTH) return false;
            int[] ids = words.get(word);
            if (ids == null) return false;
            out.addAll(ids);
            return true;
        }

        /** Remembers that {@code word} gave the ids {@code out} holds from {@code from} on. */
        void remember(String word, IntList out, int from) {
            if (word.length() <= CACHED_WORD_LENGTH && words.size() < CACHED_WORDS) words.put(word, out.copyFrom(from));
        }

        void ensure(int n) {
            if (symbol.length >= n) return;
            int size = Math.max(n, symbol.length * 2);
            symbol = new int[size];
            start = new int[size];
            end = new int[size];
            prev = new int[size];
            next = new int[size];
            initial = new long[size];
            heap = new long[size * 2 + 1]; // at most two new pairs per merge
        }
    }

    /** Merges one pre-tokenized word and appends its ids to {@code out}. */
    void encode(String word, Scratch s, IntList out, Fallback fallback) {
        if (word.isEmpty()) return;
        s.ensure(word.length());
        int n = 0;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int len = Character.charCount(cp);
            int id;
            if (len == 1) {
                id = bmpChars[cp];
            } else {
                Integer found = lookup(word.substring(i, i + len));
                id = found == null ? UNKNOWN : found;
            }
            s.symbol[n] = id;
            s.start[n] = i;
            s.end[n] = i + len;
            s.prev[n] = n - 1;
            s.next[n] = n + 1;
            n++;
            i += len;
        }
        s.next[n - 1] = -1;
        // The word's own pairs are sorted once and read in order; only pairs that merges create go through the heap,
        // and the next pair is the smaller of the two heads: the same order as one heap of everything, at a fraction
        // of the heap work for long words.
        int initialSize = 0;
        for (int i = 0; i + 1 < n; i++) {
            long entry = entry(s.symbol[i], s.symbol[i + 1], i);
            if (entry >= 0) s.initial[initialSize++] = entry;
        }
        Arrays.sort(s.initial, 0, initialSize);
        int initialNext = 0, heapSize = 0;
        while (initialNext < initialSize || heapSize > 0) {
            long top;
            if (heapSize == 0 || (initialNext < initialSize && s.initial[initialNext] < s.heap[0])) {
                top = s.initial[initialNext++];
            } else {
                top = s.heap[0];
                heapSize = pop(s.heap, heapSize);
            }
            int left = (int) top, rank = (int) (top >>> 32);
            int right = s.next[left];
            if (s.symbol[left] == UNKNOWN - 1 || right < 0) continue; // absorbed, or nothing to its right any more
            long merge = merges.get(PairMap.key(s.symbol[left], s.symbol[right]));
            if (merge < 0 || (int) (merge >>> 32) != rank) continue; // this pair changed since it was queued
            s.symbol[left] = (int) merge;
            s.end[left] = s.end[right];
            s.symbol[right] = UNKNOWN - 1;
            int after = s.next[right];
            s.next[left] = after;
            if (after >= 0) s.prev[after] = left;
            int before = s.prev[left];
            if (before >= 0) heapSize = push(s, heapSize, before, s.symbol[before], s.symbol[left]);
            if (after >= 0) heapSize = push(s, heapSize, left, s.symbol[left], s.symbol[after]);
        }
        for (int i = 0; i >= 0; i = s.next[i]) {
            int id = s.symbol[i];
            if (id >= 0 && id < vocabularySize) out.add(id);
            else fallback.emit(word, s.start[i], s.end[i], out);
        }
    }

    /** The queue entry of the pair at {@code left}: its rank, then its position (leftmost wins ties); -1 if none. */
    private long entry(int leftSymbol, int rightSymbol, int left) {
        if (leftSymbol < 0 || rightSymbol < 0) return -1;
        long merge = merges.get(PairMap.key(leftSymbol, rightSymbol));
        return merge < 0 ? -1 : (merge & 0xFFFF_FFFF_0000_0000L) | left;
    }

    private int push(Scratch s, int size, int left, int leftSymbol, int rightSymbol) {
        long entry = entry(leftSymbol, rightSymbol, left);
        if (entry < 0) return size;
        long[] heap = s.heap;
        int i = size;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (heap[parent] <= entry) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = entry;
        return size + 1;
    }

    private static int pop(long[] heap, int size) {
        long last = heap[--size];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) break;
            if (child + 1 < size && heap[child + 1] < heap[child]) child++;
            if (heap[child] >= last) break;
            heap[i] = heap[child];
            i = child;
        }
        if (size > 0) heap[i] = last;
        return size;
    }

    /** Open-addressing map from a pair of symbol ids to (rank << 32 | merged symbol); -1 when absent. */
    private static final class PairMap {
        private long[] keys;
        private long[] values;
        private final int mask;

        PairMap(int expected) {
            int capacity = Integer.highestOneBit(Math.max(16, expected * 2 + 1)) << 1;
            keys = new long[capacity];
            values = new long[capacity];
            Arrays.fill(keys, -1L);
            mask = capacity - 1;
        }

        static long key(int left, int right) {
            return ((long) left << 32) | (right & 0xFFFF_FFFFL);
        }

        private int slot(long key) {
            long h = key * 0x9E3779B97F4A7C15L;
            return (int) (h ^ (h >>> 29)) & mask;
        }

        long get(long key) {
            for (int i = slot(key); ; i = (i + 1) & mask) {
                if (keys[i] == key) return values[i];
                if (keys[i] == -1L) return -1L;
            }
        }

        void put(long key, long value) {
            int i = slot(key);
            while (keys[i] != -1L && keys[i] != key) i = (i + 1) & mask;
            keys[i] = key;
            values[i] = value;
        }
    }

    /** A growable int list, so token ids are not boxed. */
    static final class IntList {
        private int[] values = new int[16];
        private int size;

        void add(int v) {
            if (size == values.length) values = Arrays.copyOf(values, size * 2);
            values[size++] = v;
        }

        int size() {
            return size;
        }

        void addAll(int[] ids) {
            if (size + ids.length > values.length) values = Arrays.copyOf(values, Math.max(values.length * 2, size + ids.length));
            System.arraycopy(ids, 0, values, size, ids.length);
            size += ids.length;
        }

        int[] copyFrom(int from) {
            return Arrays.copyOfRange(values, from, size);
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }
}
