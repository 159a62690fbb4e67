package dev.kvfn.kv.tier;

import java.lang.foreign.MemorySegment;
import java.util.function.IntConsumer;

/**
 * Where restored block bytes go: the {@code i}-th block of a restore is written to
 * {@link #segment()} at {@link #offset(int) offset(i)}. The engine that owns the memory also
 * lends its threads: {@link #forEach} may spread the copies over them.
 */
public interface BlockSink {

    MemorySegment segment();

    /** Byte offset in {@link #segment()} of the {@code i}-th restored block. */
    long offset(int i);

    /** Runs {@code copy} for every index in {@code [0, n)}, in any order, on any of the engine's threads; returns when all ran. */
    default void forEach(int n, IntConsumer copy) {
        for (int i = 0; i < n; i++) copy.accept(i);
    }
}
