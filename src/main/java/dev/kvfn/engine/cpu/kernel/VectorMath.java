package dev.kvfn.engine.cpu.kernel;

/**
 * Small float-array kernels used by the forward pass outside the weight matrices (attention
 * scores, value accumulation, norms). Offsets let callers work inside larger flat buffers
 * without copying or allocating.
 */
public final class VectorMath {
    private VectorMath() {}

    /** {@code sum a[ao+i] * b[bo+i]} for {@code i < n}. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** {@code y[yo+i] += alpha * x[xo+i]} for {@code i < n}. */
    public static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        for (int i = 0; i < n; i++) y[yo + i] += alpha * x[xo + i];
    }

    /** {@code sum x[xo+i]^2} for {@code i < n}. */
    public static float sumOfSquares(float[] x, int xo, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) s += x[xo + i] * x[xo + i];
        return s;
    }
}
