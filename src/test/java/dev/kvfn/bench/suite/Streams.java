package dev.kvfn.bench.suite;

/** Aggregate decode over concurrent streams, computed the same way for every engine. */
final class Streams {
    private Streams() {}

    /**
     * Tokens per second over the window where all streams decode together: from the last stream's first token to
     * the first stream's last token, so prefill and stragglers do not count. {@code times[s]} are the arrival times of
     * stream {@code s}'s tokens on one clock (nanoseconds); a stream that ended early ends the window early.
     */
    static double aggregate(long[][] times) {
        long start = Long.MIN_VALUE, end = Long.MAX_VALUE;
        for (long[] t : times) {
            if (t.length < 2) throw new IllegalStateException("a stream produced " + t.length + " token(s); need at least 2");
            start = Math.max(start, t[0]);
            end = Math.min(end, t[t.length - 1]);
        }
        if (end <= start) throw new IllegalStateException("the streams never decoded at the same time");
        long produced = 0;
        for (long[] t : times) {
            for (long x : t) if (x > start && x <= end) produced++;
        }
        return produced * 1e9 / (end - start);
    }
}
