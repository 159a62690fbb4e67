package dev.kvfn.engine.cpu.kernel;

/**
 * Small float-array kernels used by the forward pass outside the weight matrices (attention
 * scores, value accumulation, norms). Offsets let callers work inside larger flat buffers
 * without copying or allocating. Vectorized where the Vector API module is present; the
 * choice is made once, so the JIT folds the branch away.
 */
public final class VectorMath {
    private VectorMath() {}

    /** Whether {@code jdk.incubator.vector} is in the boot layer (else no Vector API class may be touched). */
    static final boolean VECTOR_MODULE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    private static final boolean VECTOR = VECTOR_MODULE && !"scalar".equals(System.getProperty(Matrices.KERNELS_PROPERTY));

    /** {@code sum a[ao+i] * b[bo+i]} for {@code i < n}. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        return VECTOR ? VectorizedMath.dot(a, ao, b, bo, n) : scalarDot(a, ao, b, bo, n);
    }

    /** {@code y[yo+i] += alpha * x[xo+i]} for {@code i < n}. */
    public static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        if (VECTOR) VectorizedMath.axpy(alpha, x, xo, y, yo, n);
        else scalarAxpy(alpha, x, xo, y, yo, n);
    }

    /** {@code sum x[xo+i]^2} for {@code i < n}. */
    public static float sumOfSquares(float[] x, int xo, int n) {
        return VECTOR ? VectorizedMath.sumOfSquares(x, xo, n) : scalarSumOfSquares(x, xo, n);
    }

    static float scalarDot(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    static void scalarAxpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        for (int i = 0; i < n; i++) y[yo + i] += alpha * x[xo + i];
    }

    static float scalarSumOfSquares(float[] x, int xo, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) s += x[xo + i] * x[xo + i];
        return s;
    }
}
