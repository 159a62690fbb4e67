package dev.kvfn.tokenizer;

import java.util.Arrays;

/**
 * The queued pairs of one word in the order BPE merges them: lowest rank first, leftmost position on ties. A pair
 * is a (rank, position) entry; the caller skips entries whose pair changed since they were queued.
 *
 * <p>A short word keeps them all in one binary heap. A long one reads them rank by rank: its own pairs are
 * counting-sorted by rank once (a bitset finds the next rank that has pairs), and pairs that merges create go to
 * a bucket per rank, sorted by position when that rank is reached. A pair then costs O(1) instead of a heap's
 * O(log n) cache misses. That needs pairs to be created only at ranks above the one being read, which holds when
 * every merge's result is used only by later merges, as in a merge list learned in order. A pair created at or
 * below that rank (in a merge list where a later merge produces a symbol again, for instance) goes to the heap,
 * and the next entry is the smaller of the heap's and the rank's: the same order either way. Nothing is allocated
 * once the arrays have grown to the longest word and the merge list.
 */
final class PairQueue {
    private long[] heap = new long[16]; // (rank << 32 | position), a binary min-heap
    private int heapSize;

    private boolean byRank;
    private int cursor;                     // the rank being read: a pair created at or below it goes to the heap
    private long[] occupied = new long[0];  // a bit per rank: it has pairs not yet read
    private int[] initialEnd = new int[0];  // by rank: the word's own pairs of that rank end here in initial (0: none)
    private int[] initial = new int[0];     // the word's own pairs' positions, by rank, then position
    private int initialRead;
    private int[] heads = new int[0];       // by rank: 1 + the first node of its bucket of created pairs, 0: none
    private int[] nodes = new int[32];      // per node: 1 + the next node of its bucket (0: none), position
    private int nodeCount;
    private int[] merged = new int[16];     // a rank's own and created pairs together, when it has both
    private int[] current = merged;         // the positions of the rank being read, ascending
    private int currentIndex, currentEnd;

    /**
     * Empties the queue and queues a word's own pairs.
     *
     * @param ranks     how many merge ranks there are, to read the pairs rank by rank; 0: keep them in a heap
     * @param pairRanks by position: the rank of the pair that starts there, or -1
     * @param positions how many positions {@code pairRanks} holds
     */
    void reset(int ranks, int[] pairRanks, int positions) {
        heapSize = 0;
        nodeCount = 0;
        currentIndex = currentEnd = 0;
        byRank = ranks > 0;
        if (!byRank) {
            cursor = Integer.MAX_VALUE;
            for (int i = 0; i < positions; i++) if (pairRanks[i] >= 0) push((long) pairRanks[i] << 32 | i);
            return;
        }
        cursor = -1;
        if (initialEnd.length < ranks) {
            initialEnd = new int[ranks];
            heads = new int[ranks];
            occupied = new long[(ranks + 63) >>> 6];
        }
        if (initial.length < positions) initial = new int[Math.max(positions, initial.length * 2)];
        // counting sort: the count of each rank, then each rank's start (ranks in order), then the positions
        int[] end = initialEnd;
        for (int i = 0; i < positions; i++) {
            int rank = pairRanks[i];
            if (rank < 0) continue;
            end[rank]++;
            occupied[rank >>> 6] |= 1L << rank;
        }
        int total = 0;
        for (int rank = nextOccupied(0); rank >= 0; rank = nextOccupied(rank + 1)) {
            int count = end[rank];
            end[rank] = total;
            total += count;
        }
        for (int i = 0; i < positions; i++) {
            int rank = pairRanks[i];
            if (rank >= 0) initial[end[rank]++] = i; // leaves each rank's end, never 0 for a rank with pairs
        }
        initialRead = 0;
    }

    /** Queues the pair that a merge created at {@code position}, with merge rank {@code rank} (non-negative). */
    void add(int rank, int position) {
        if (rank <= cursor) {
            push((long) rank << 32 | position);
            return;
        }
        if (2 * nodeCount + 1 >= nodes.length) nodes = Arrays.copyOf(nodes, nodes.length * 2);
        int node = 2 * nodeCount++;
        nodes[node] = heads[rank];
        nodes[node + 1] = position;
        heads[rank] = nodeCount; // 1 + node index
        occupied[rank >>> 6] |= 1L << rank;
    }

    /** The next entry as {@code rank << 32 | position}, removed from the queue; -1 when the queue is empty. */
    long poll() {
        while (true) {
            if (currentIndex < currentEnd) {
                long next = (long) cursor << 32 | current[currentIndex];
                if (heapSize > 0 && heap[0] < next) return pop();
                currentIndex++;
                return next;
            }
            if (heapSize > 0) return pop();
            if (!byRank || !readNextRank()) return -1;
        }
    }

    /** Makes the lowest rank with pairs the current one; false if no rank has any. */
    private boolean readNextRank() {
        int rank = nextOccupied(cursor + 1);
        if (rank < 0) return false;
        occupied[rank >>> 6] &= ~(1L << rank);
        cursor = rank;
        int from = initialRead, to = from;
        if (initialEnd[rank] != 0) {
            to = initialEnd[rank];
            initialEnd[rank] = 0;
            initialRead = to;
        }
        if (heads[rank] == 0) {
            current = initial;
            currentIndex = from;
            currentEnd = to;
            return true;
        }
        // created pairs, in one walk of the bucket (at most nodeCount of them), after room for the word's own pairs:
        // listed newest first, and created mostly left to right
        int own = to - from;
        if (merged.length < own + nodeCount) merged = new int[Math.max(own + nodeCount, merged.length * 2)];
        int size = own;
        for (int link = heads[rank]; link != 0; link = nodes[2 * (link - 1)]) merged[size++] = nodes[2 * (link - 1) + 1];
        heads[rank] = 0;
        boolean ascending = true;
        for (int i = own, j = size - 1; i < j; i++, j--) {
            int t = merged[i];
            merged[i] = merged[j];
            merged[j] = t;
        }
        for (int i = own + 1; i < size && ascending; i++) ascending = merged[i - 1] < merged[i];
        if (!ascending) Arrays.sort(merged, own, size);
        if (own > 0) { // merge with the word's own pairs of this rank, into the room left for them
            int a = own, b = from, out = 0;
            while (a < size && b < to) merged[out++] = merged[a] < initial[b] ? merged[a++] : initial[b++];
            while (b < to) merged[out++] = initial[b++];
        }
        current = merged;
        currentIndex = 0;
        currentEnd = size;
        return true;
    }

    private int nextOccupied(int from) {
        int word = from >>> 6;
        if (word >= occupied.length) return -1;
        long bits = occupied[word] & (-1L << from);
        while (bits == 0) {
            if (++word == occupied.length) return -1;
            bits = occupied[word];
        }
        return (word << 6) + Long.numberOfTrailingZeros(bits);
    }

    private void push(long entry) {
        if (heapSize == heap.length) heap = Arrays.copyOf(heap, heapSize * 2);
        int i = heapSize++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (heap[parent] <= entry) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = entry;
    }

    private long pop() {
        long top = heap[0];
        long last = heap[--heapSize];
        int size = heapSize;
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
        return top;
    }
}
