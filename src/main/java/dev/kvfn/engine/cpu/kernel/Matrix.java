package dev.kvfn.engine.cpu.kernel;

/**
 * A weight matrix ready for multiplication: {@code rows} outputs by {@code cols} inputs, stored in
 * one of the ggml tensor types. Implementations are chosen once, at load time, by
 * {@link Matrices#of}, so the per-token loop does no type dispatch.
 */
public interface Matrix {

    int rows();

    int cols();

    /**
     * {@code out[b*rows + r] = sum_c W[r][c] * x[b*cols + c]} for every {@code b < batch}.
     * {@code x} holds {@code batch} input vectors back to back; {@code out} receives {@code batch}
     * output vectors back to back. Rows are split across the pool's threads. Allocation-free.
     */
    void multiply(float[] x, float[] out, int batch);

    /** Dequantizes row {@code r} into {@code dst[offset .. offset+cols)} (embedding lookups). */
    void row(int r, float[] dst, int offset);
}
