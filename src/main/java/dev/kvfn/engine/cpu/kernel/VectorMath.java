package dev.kvfn.engine.cpu.kernel;

/**
 * Small float-array kernels used by the forward pass outside the weight matrices (norms). Offsets let callers work inside larger flat buffers
 * without copying or allocating. Vectorized where the Vector API module is present; the
 * choice is made once, so the JIT folds the branch away.
 */
public final class VectorMath {
    private VectorMath() {}

    /** Whether {@code jdk.incubator.vector} is in the boot layer (else no Vector API class may be touched). */
    static final boolean VECTOR_MODULE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    private static final boolean VECTOR = VECTOR_MODULE && !"scalar".equals(System.getProperty(Matrices.KERNELS_PROPERTY));

    /** {@code sum x[xo+i]^2} for {@code i < n}. */
    public static float sumOfSquares(float[] x, int xo, int n) {
        return VECTOR ? VectorizedMath.sumOfSquares(x, xo, n) : scalarSumOfSquares(x, xo, n);
    }

    static float scalarSumOfSquares(float[] x, int xo, int n) {
        float s = 0f;
        for (int i = 0; i < n; i++) s += x[xo + i] * x[xo + i];
        return s;
    }
}
