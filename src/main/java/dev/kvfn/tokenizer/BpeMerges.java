package dev.kvfn.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.kvfn.tokenizer.BpeMerges.Scratch.FIELDS;
import static dev.kvfn.tokenizer.BpeMerges.Scratch.NEXT;
import static dev.kvfn.tokenizer.BpeMerges.Scratch.PREV;
import static dev.kvfn.tokenizer.BpeMerges.Scratch.RANK;
import static dev.kvfn.tokenizer.BpeMerges.Scratch.SYMBOL;

/**
 * The BPE merge engine shared by GGUF ({@link BpeTokenizer}) and Hugging Face ({@link HfTokenizer}) vocabularies:
 * a word's characters become symbols, and the adjacent pair with the lowest merge rank (leftmost on ties) merges
 * until no pair has a rank. Symbols and pairs are ids, and each position remembers the rank of the pair it starts,
 * so a merge step is a hash probe for each of the (at most two) pairs it creates and {@link PairQueue} operations:
 * O(n log n) per word, O(n) for long words in a merge list learned in order. Merge results outside the
 * vocabulary get ids past it, so even an inconsistent vocabulary merges exactly as the string-based reference
 * implementations do.
 */
final class BpeMerges {
    /** A symbol of the word that is in no merge and not in the vocabulary. */
    private static final int UNKNOWN = -1;
    /** Words of at least this many symbols have their pairs read rank by rank ({@link PairQueue}), not from a heap. */
    private static final int BY_RANK_SYMBOLS = 1024;

    private final Map<String, Integer> vocabulary;
    private final int vocabularySize;
    private final Map<String, Integer> symbols = new HashMap<>(); // texts outside the vocabulary that merges produce
    private final int[] bmpChars = new int[Character.MAX_VALUE + 1]; // single BMP characters to symbols
    private final PairMap merges;
    private final int rankCount;
    private final int[] mergedSymbol; // by rank: what the merge makes (for the first rank of a pair listed twice)

    /**
     * @param vocabulary piece to id (ids below {@code vocabularySize})
     * @param pairs      the merges by rank: left and right symbol texts
     */
    BpeMerges(Map<String, Integer> vocabulary, int vocabularySize, List<String[]> pairs) {
        this.vocabulary = vocabulary;
        this.vocabularySize = vocabularySize;
        merges = new PairMap(pairs.size());
        rankCount = pairs.size();
        mergedSymbol = new int[rankCount];
        List<String[]> ordered = new ArrayList<>(pairs);
        for (int rank = 0; rank < ordered.size(); rank++) {
            String[] p = ordered.get(rank);
            int left = symbol(p[0]), right = symbol(p[1]);
            long key = PairMap.key(left, right);
            if (merges.get(key) < 0) {
                merges.put(key, rank);
                mergedSymbol[rank] = symbol(p[0] + p[1]);
            }
        }
        // lookup() of every one-character text, from the maps themselves (a cold start interprets this: 65k lookups of
        // fresh strings were most of its cost); the vocabulary's last, as lookup() prefers it
        Arrays.fill(bmpChars, UNKNOWN);
        for (Map<String, Integer> texts : List.of(symbols, vocabulary)) {
            for (Map.Entry<String, Integer> e : texts.entrySet()) {
                String text = e.getKey();
                if (text.length() != 1) continue;
                char c = text.charAt(0);
                if (!Character.isSurrogate(c)) bmpChars[c] = e.getValue();
            }
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

        // per symbol position, side by side (four positions to a cache line, as merges hop between neighbours):
        // its symbol, its neighbours (-1: none) and the rank of the pair it starts (-1: none, or absorbed)
        static final int SYMBOL = 0, PREV = 1, NEXT = 2, RANK = 3, FIELDS = 4;
        int[] cells = new int[0];
        int[] start = new int[0];        // by position: where its text starts in the word
        int[] initialRanks = new int[0]; // by position: the rank of the word's own pair there, or -1
        final PairQueue queue = new PairQueue();
        private final Map<String, int[]> words = new HashMap<>();
        // text whose words rarely repeat (random bytes, say) pays for the map and finds nothing: after enough
        // lookups with few hits the cache is left alone for the rest of the call
        private static final int TRIAL_LOOKUPS = 4096, MIN_HITS = TRIAL_LOOKUPS / 8;
        private int lookups, hits;
        private boolean caching = true;

        /** Appends the ids of {@code word} if they are known; false if the word must be encoded. */
        boolean appendCached(String word, IntList out) {
            if (!caching || word.length() > CACHED_WORD_LENGTH) return false;
            if (++lookups == TRIAL_LOOKUPS && hits < MIN_HITS) {
                caching = false;
                return false;
            }
            int[] ids = words.get(word);
            if (ids == null) return false;
            hits++;
            out.addAll(ids);
            return true;
        }

        /** Remembers that {@code word} gave the ids {@code out} holds from {@code from} on. */
        void remember(String word, IntList out, int from) {
            if (caching && word.length() <= CACHED_WORD_LENGTH && words.size() < CACHED_WORDS) words.put(word, out.copyFrom(from));
        }

        void ensure(int n) {
            if (initialRanks.length >= n) return;
            int size = Math.max(n, initialRanks.length * 2);
            cells = new int[size * FIELDS];
            initialRanks = new int[size];
            start = new int[size];
        }
    }

    /** Merges one pre-tokenized word and appends its ids to {@code out}. */
    void encode(String word, Scratch s, IntList out, Fallback fallback) {
        if (word.isEmpty()) return;
        s.ensure(word.length());
        int[] c = s.cells;
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
            int cell = n * FIELDS;
            c[cell + SYMBOL] = id;
            s.start[n] = i;
            c[cell + PREV] = n - 1;
            c[cell + NEXT] = n + 1;
            n++;
            i += len;
        }
        c[(n - 1) * FIELDS + NEXT] = -1;
        c[(n - 1) * FIELDS + RANK] = -1;
        for (int i = 0; i + 1 < n; i++) s.initialRanks[i] = pair(c, i, i + 1);
        PairQueue queue = s.queue;
        queue.reset(n >= BY_RANK_SYMBOLS ? rankCount : 0, s.initialRanks, n - 1);
        for (long top = queue.poll(); top >= 0; top = queue.poll()) {
            int left = (int) top, cell = left * FIELDS;
            if (c[cell + RANK] != (int) (top >>> 32)) continue; // this pair changed since it was queued
            int right = c[cell + NEXT];
            c[cell + SYMBOL] = mergedSymbol[(int) (top >>> 32)];
            c[right * FIELDS + RANK] = -1; // absorbed: its queued pair is stale
            int after = c[right * FIELDS + NEXT];
            c[cell + NEXT] = after;
            if (after >= 0) {
                c[after * FIELDS + PREV] = left;
                int rank = pair(c, left, after);
                if (rank >= 0) queue.add(rank, left);
            } else {
                c[cell + RANK] = -1;
            }
            int before = c[cell + PREV];
            if (before >= 0) {
                int rank = pair(c, before, left);
                if (rank >= 0) queue.add(rank, before);
            }
        }
        for (int i = 0; i >= 0; i = c[i * FIELDS + NEXT]) {
            int id = c[i * FIELDS + SYMBOL], next = c[i * FIELDS + NEXT];
            if (id >= 0 && id < vocabularySize) out.add(id);
            else fallback.emit(word, s.start[i], next >= 0 ? s.start[next] : word.length(), out);
        }
    }

    /** Records the pair of the adjacent symbols at {@code left} and {@code right} in left's cell; its rank or -1. */
    private int pair(int[] c, int left, int right) {
        int cell = left * FIELDS;
        int leftSymbol = c[cell + SYMBOL], rightSymbol = c[right * FIELDS + SYMBOL];
        long merge = leftSymbol < 0 || rightSymbol < 0 ? -1 : merges.get(PairMap.key(leftSymbol, rightSymbol));
        if (merge < 0) {
            c[cell + RANK] = -1;
            return -1;
        }
        int rank = (int) merge;
        c[cell + RANK] = rank;
        return rank;
    }

    /**
     * Open-addressing map from a pair of symbol ids to its merge rank; -1 when absent. A key and its
     * value sit side by side, so a probe that hits costs one cache miss.
     */
    private static final class PairMap {
        private final long[] table; // key, value, key, value, ...; key -1: empty
        private final int mask;
        // a Bloom filter about the size of a core's own cache (8-16 bits a key, three of them in one word): most
        // pairs a long word's merges create have no merge, and it answers those without a cache miss into the
        // table (1-3% get through anyway)
        private final long[] filter;
        private final int filterMask;

        PairMap(int expected) {
            int capacity = Integer.highestOneBit(Math.max(16, expected * 2 + 1)) << 1;
            table = new long[2 * capacity];
            for (int i = 0; i < table.length; i += 2) table[i] = -1L;
            mask = capacity - 1;
            int words = Integer.highestOneBit(Math.max(1, expected / 8)) << 1;
            filter = new long[words];
            filterMask = words - 1;
        }

        static long key(int left, int right) {
            return ((long) left << 32) | (right & 0xFFFF_FFFFL);
        }

        private static long hash(long key) {
            long h = key * 0x9E3779B97F4A7C15L;
            return h ^ (h >>> 29);
        }

        private static long filterBits(long h) {
            return (1L << (h >>> 46)) | (1L << (h >>> 52)) | (1L << (h >>> 58));
        }

        long get(long key) {
            long h = hash(key);
            long bits = filterBits(h);
            if ((filter[(int) (h >>> 24) & filterMask] & bits) != bits) return -1L;
            for (int i = (int) h & mask; ; i = (i + 1) & mask) {
                long k = table[2 * i];
                if (k == key) return table[2 * i + 1];
                if (k == -1L) return -1L;
            }
        }

        void put(long key, long value) {
            long h = hash(key);
            filter[(int) (h >>> 24) & filterMask] |= filterBits(h);
            int i = (int) h & mask;
            while (table[2 * i] != -1L && table[2 * i] != key) i = (i + 1) & mask;
            table[2 * i] = key;
            table[2 * i + 1] = value;
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
