package dev.kvfn.engine.cpu;

/**
 * The keys and values of ONE sequence as the forward pass sees them, addressed by (layer,
 * position, kv head). Attention touches K/V only through these calls, so the layout behind them
 * (the paged pool in production; a plain array in tests) can change without touching the forward
 * pass, and a quantized layout attends on its own encoding instead of handing out float arrays.
 */
public interface SequenceKv {

    /** Positions this sequence may hold now (the forward pass refuses to go past it). */
    int capacity();

    /**
     * Stores the key and value vectors of every kv head at {@code position} of {@code layer}:
     * {@code kvDim} floats each, starting at {@code kOffset} / {@code vOffset}.
     */
    void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset);

    /**
     * One query head's causal attention over positions {@code [0, positions)}: writes
     * {@code softmax(scale * q.K) . V} into {@code out[outOffset .. +headSize)}.
     */
    void attend(int layer, int kvHead, int positions, float[] q, int qOffset, float scale, float[] out, int outOffset,
                int headSize);

    /**
     * {@link #attend} for {@code rows} consecutive positions of this sequence and the {@code heads}
     * consecutive query heads sharing {@code kvHead} (grouped-query attention). Row {@code r}
     * attends over {@code [0, firstPositions + r)}; its head {@code i} reads
     * {@code q[qOffset + r*qStride + i*headSize ..]} and writes {@code out[outOffset + r*outStride + i*headSize ..]}.
     * An implementation can then read each key and value once for all of them.
     */
    void attendRows(int layer, int kvHead, int firstPositions, int rows, float[] q, int qOffset, int qStride, int heads,
                    float scale, float[] out, int outOffset, int outStride, int headSize);
}
