package dev.kvfn.model;

import java.lang.foreign.MemorySegment;

/**
 * A named tensor whose bytes live in a (usually memory-mapped) segment.
 * Shape follows ggml: {@code shape[0]} is the contiguous (innermost) dimension, so a weight matrix
 * with {@code rows} outputs and {@code cols} inputs has {@code shape = {cols, rows}}.
 */
public record Tensor(String name, GgmlType type, long[] shape, MemorySegment data) {

    public long elements() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Length of the contiguous dimension (inputs of a weight matrix). */
    public int cols() { return Math.toIntExact(shape[0]); }

    /** Product of the outer dimensions (outputs of a weight matrix). */
    public int rows() { return Math.toIntExact(elements() / shape[0]); }

    /** The bytes of row {@code r} (a row is a whole number of blocks). */
    public MemorySegment row(int r) {
        long rowBytes = type.bytesFor(shape[0]);
        return data.asSlice(r * rowBytes, rowBytes);
    }
}
