package dev.kvfn.engine.cpu;

/**
 * The reference attention for tests: one position at a time with an online softmax, over a
 * store's per-position key dot products and value sums. Production layouts replace it with block
 * kernels; tests compare them against this.
 */
abstract class PerPositionKv implements SequenceKv {

    /** {@code dot(key(layer, position, kvHead), q[qOffset .. qOffset+headSize))}. */
    abstract float keyDot(int layer, int position, int kvHead, float[] q, int qOffset);

    /** {@code out[outOffset .. +headSize) += weight * value(layer, position, kvHead)}. */
    abstract void addValue(int layer, int position, int kvHead, float weight, float[] out, int outOffset);

    @Override
    public void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
        throw new UnsupportedOperationException("read-only view");
    }

    @Override
    public void attend(int layer, int kvHead, int positions, float[] q, int qOffset, float scale, float[] out,
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

    @Override
    public void attendRows(int layer, int kvHead, int firstPositions, int rows, float[] q, int qOffset, int qStride,
                           int heads, float scale, float[] out, int outOffset, int outStride, int headSize) {
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < heads; i++) {
                attend(layer, kvHead, firstPositions + r, q, qOffset + r * qStride + i * headSize, scale, out,
                        outOffset + r * outStride + i * headSize, headSize);
            }
        }
    }
}
