package dev.kvfn.engine.cpu;

/**
 * The keys and values of ONE sequence, addressed by (layer, position, kv head). Attention touches
 * K/V only through these calls, so the storage behind them (contiguous f32 today, a paged pool of
 * 16-token blocks with f16/q8 slots next) can change without touching the forward pass. Keeping
 * the dot product and the weighted sum inside the store lets a quantized store work on its own
 * encoding instead of handing out float arrays.
 */
public interface KvStore {

    /** Positions this sequence may hold (the forward pass refuses to go past it). */
    int capacity();

    /**
     * Stores the key and value vectors of every kv head at {@code position} of {@code layer}:
     * {@code kvDim} floats each, starting at {@code kOffset} / {@code vOffset}.
     */
    void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset);

    /** {@code dot(key(layer, position, kvHead), q[qOffset .. qOffset+headSize))}. */
    float keyDot(int layer, int position, int kvHead, float[] q, int qOffset);

    /** {@code out[outOffset .. +headSize) += weight * value(layer, position, kvHead)}. */
    void addValue(int layer, int position, int kvHead, float weight, float[] out, int outOffset);

    /**
     * One query head's causal attention over positions {@code [0, positions)}: writes
     * {@code softmax(scale * q.K) . V} into {@code out[outOffset .. +headSize)}. This default is
     * the per-position online softmax over {@link #keyDot} and {@link #addValue}; a store whose
     * layout allows whole-block kernels (the paged store) overrides it.
     */
    default void attend(int layer, int kvHead, int positions, float[] q, int qOffset, float scale, float[] out,
                        int outOffset, int headSize) {
        java.util.Arrays.fill(out, outOffset, outOffset + headSize, 0f);
        float max = Float.NEGATIVE_INFINITY, sum = 0f;
        for (int t = 0; t < positions; t++) {
            float score = keyDot(layer, t, kvHead, q, qOffset) * scale;
            float w;
            if (score > max) {
                float rescale = (float) Math.exp(max - score);
                sum *= rescale;
                for (int i = outOffset; i < outOffset + headSize; i++) out[i] *= rescale;
                max = score;
                w = 1f;
            } else {
                w = (float) Math.exp(score - max);
            }
            sum += w;
            addValue(layer, t, kvHead, w, out, outOffset);
        }
        float inv = 1f / sum;
        for (int i = outOffset; i < outOffset + headSize; i++) out[i] *= inv;
    }

    /**
     * {@link #attend} for {@code rows} consecutive positions of this sequence and the {@code heads}
     * consecutive query heads sharing {@code kvHead} (grouped-query attention). Row {@code r}
     * attends over {@code [0, firstPositions + r)}; its head {@code i} reads
     * {@code q[qOffset + r*qStride + i*headSize ..]} and writes {@code out[outOffset + r*outStride + i*headSize ..]}.
     * A store can then read each key and value once for all of them.
     */
    default void attendRows(int layer, int kvHead, int firstPositions, int rows, float[] q, int qOffset, int qStride,
                            int heads, float scale, float[] out, int outOffset, int outStride, int headSize) {
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < heads; i++) {
                attend(layer, kvHead, firstPositions + r, q, qOffset + r * qStride + i * headSize, scale, out,
                        outOffset + r * outStride + i * headSize, headSize);
            }
        }
    }
}
