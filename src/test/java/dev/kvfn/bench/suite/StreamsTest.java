package dev.kvfn.bench.suite;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class StreamsTest {
    private static final long MS = 1_000_000;

    @Test
    void countsOnlyTheWindowWhereAllStreamsDecode() {
        // stream 0 starts at 0 ms, stream 1 at 30 ms: the window is 30..90 ms (stream 1's first token to stream 0's last)
        long[][] times = {
                {0, 10 * MS, 20 * MS, 30 * MS, 40 * MS, 50 * MS, 60 * MS, 70 * MS, 80 * MS, 90 * MS},
                {30 * MS, 45 * MS, 60 * MS, 75 * MS, 90 * MS, 105 * MS, 120 * MS},
        };
        // in (30, 90]: stream 0 has 40..90 (6 tokens), stream 1 has 45, 60, 75, 90 (4 tokens): 10 tokens in 60 ms
        assertEquals(10 / 0.060, Streams.aggregate(times), 1e-9);
    }

    @Test
    void oneStreamIsItsOwnDecodeRate() {
        long[][] times = {{5 * MS, 25 * MS, 45 * MS, 65 * MS}};
        assertEquals(3 / 0.060, Streams.aggregate(times), 1e-9);
    }

    @Test
    void streamsThatNeverOverlapOrStopAtOnceAreRefused() {
        assertThrows(IllegalStateException.class, () -> Streams.aggregate(new long[][] {{0, MS}, {2 * MS, 3 * MS}}));
        assertThrows(IllegalStateException.class, () -> Streams.aggregate(new long[][] {{0, MS}, {0}}));
    }
}
