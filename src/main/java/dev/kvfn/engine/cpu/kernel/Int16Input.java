package dev.kvfn.engine.cpu.kernel;

/**
 * One input vector rounded, per block of 32 values, to integers in [-{@value #LEVELS}, {@value #LEVELS}] times a
 * float step: what the Q4_0 decode kernel multiplies its 4-bit levels by in 16-bit integer lanes. x86 has no
 * byte or float path that cheap (AVX2 converts every weight to float otherwise), and 11 bits keep the rounding
 * error at 1/2046 of a block's largest |x|, eight times finer than llama.cpp's 8-bit activations. The bound:
 * two products of a level (at most 15) and a value (at most 1023) sum to 30690, inside a short.
 *
 * <p>Filled once per multiply on the calling thread, read by every worker; reused, never reallocated.
 */
final class Int16Input {
    static final int LEVELS = 1023;
    static final int BLOCK = 32;

    /** The rounded values, {@code x[i] ~ q[i] * step[i / 32]}. */
    final short[] q;
    /** Per block: the value of one level ({@code max |x| / 1023}, 0 for a block of zeros). */
    final float[] step;
    /** Per block: the sum of its rounded values, for kernels that fold a per-block offset out of the loop. */
    final int[] sum;
    /**
     * Per block: {@code step * sum}, the block's sum as the kernels see it, each whole group of 8 blocks in the order
     * 0 4 1 5 2 6 3 7: the order in which a K-quant kernel spreads a super-block's eight 6-bit mins over int lanes
     * (a long broadcast is low and high word in turn), so the mins meet their sums in one fma.
     */
    final float[] stepSum;
    /** False when x holds an infinity or NaN: the caller then takes the float path, which propagates it. */
    boolean finite;

    Int16Input(int cols) {
        int blocks = (cols + BLOCK - 1) / BLOCK;
        this.q = new short[blocks * BLOCK];
        this.step = new float[blocks];
        this.sum = new int[blocks];
        this.stepSum = new float[blocks];
    }

    /** Where block {@code b}'s {@code step * sum} goes in {@link #stepSum}. */
    static int stepSumIndex(int b, int blocks) {
        int group = b & ~7;
        if (group + 8 > blocks) return b; // a last, partial group keeps its order (no K-quant row ends in one)
        int i = b & 7;
        return group + (i < 4 ? 2 * i : 2 * (i - 4) + 1);
    }

    void quantize(float[] x, int cols) {
        boolean ok = true;
        for (int b = 0, c0 = 0; c0 < cols; b++, c0 += BLOCK) {
            int c1 = Math.min(cols, c0 + BLOCK);
            float max = 0f;
            for (int c = c0; c < c1; c++) max = Math.max(max, Math.abs(x[c]));
            if (!(max < Float.POSITIVE_INFINITY)) ok = false; // infinity, or NaN (Math.max propagates it)
            float inverse = max > 0f ? LEVELS / max : 0f;
            int s = 0;
            for (int c = c0; c < c1; c++) {
                int v = Math.round(x[c] * inverse);
                q[c] = (short) v;
                s += v;
            }
            step[b] = max / LEVELS;
            sum[b] = s;
            stepSum[stepSumIndex(b, step.length)] = step[b] * s;
        }
        finite = ok;
    }
}
