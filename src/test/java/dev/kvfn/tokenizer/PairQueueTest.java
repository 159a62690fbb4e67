package dev.kvfn.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.PriorityQueue;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link PairQueue} against a plain priority queue of (rank, position): whatever is added, in heap mode or rank by
 * rank, including pairs created at or below the rank being read (a merge list whose results are not only used by
 * later merges), every poll returns exactly the entry the priority queue does.
 */
class PairQueueTest {

    @Test
    void pollsInTheOrderOfAPriorityQueueInBothModes() {
        SplittableRandom random = new SplittableRandom(7);
        PairQueue queue = new PairQueue(); // reused across words, as a tokenizer's scratch is
        int belowCursor = 0;
        for (int word = 0; word < 400; word++) {
            int ranks = 1 + random.nextInt(word % 3 == 0 ? 5 : 300);
            int positions = random.nextInt(word % 5 == 0 ? 3000 : 60);
            boolean byRank = random.nextBoolean();
            int[] initial = new int[positions];
            PriorityQueue<Long> reference = new PriorityQueue<>();
            for (int i = 0; i < positions; i++) {
                initial[i] = random.nextInt(4) == 0 ? -1 : random.nextInt(ranks);
                if (initial[i] >= 0) reference.add((long) initial[i] << 32 | i);
            }
            queue.reset(byRank ? ranks : 0, initial, positions);
            int polled = 0, lastRank = -1;
            while (true) {
                // now and then add pairs: mostly above the last rank polled (a merge list learned in order), some at
                // or below it
                for (int a = random.nextInt(3); a > 0; a--) {
                    boolean low = lastRank >= 0 && random.nextInt(5) == 0;
                    int rank = low ? random.nextInt(lastRank + 1) : lastRank + 1 + random.nextInt(Math.max(1, ranks - lastRank - 1));
                    if (rank >= ranks) continue;
                    if (low) belowCursor++;
                    int position = random.nextInt(Math.max(1, positions));
                    queue.add(rank, position);
                    reference.add((long) rank << 32 | position);
                }
                long expected = reference.isEmpty() ? -1 : reference.poll();
                long got = queue.poll();
                assertEquals(expected, got, "word " + word + " (" + (byRank ? "by rank" : "heap") + "), poll " + polled);
                if (got < 0) break;
                lastRank = (int) (got >>> 32);
                polled++;
            }
        }
        assertEquals(true, belowCursor > 1000, "pairs added at or below the rank being read: " + belowCursor);
    }
}
