package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;

import static dev.kvfn.engine.cpu.kernel.VectorMatrix.F;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.L;

/**
 * The small-batch kernels of the block types, written once over a per-type weight loader
 * ({@link #scale}, {@link #weights}), and loaded once per type as a hidden class whose
 * {@link #TYPE} is a constant: C2 compiles each copy apart, with only that type's loader inlined.
 * One plain class would be one compiled copy for all types: a virtual loader would go megamorphic
 * and box the vectors (a helper C2 did not inline ran Q4_0 batch 8 at 8x the time), and inlining
 * every type's loader would grow the kernels past C2's inlining limits. A new block type adds a
 * case to {@link #scale} and {@link #weights} (blocks may be K-quant super-blocks: {@code j} runs
 * over the whole block, so a loader can pick its sub-block scale from {@code j}).
 *
 * <p>The kernels are written out per vector count: loops over rows or vectors would need arrays
 * of vectors, which C2 does not keep in registers. Never used as a plain class: see
 * {@link VectorMatrix#specialize}.
 */
final class BlockKernels implements VectorMatrix.SmallBatchKernels {
    /** This copy's type, from the hidden class's data: a constant to C2. */
    private static final GgmlType TYPE = type();
    private static final boolean Q8_0 = TYPE == GgmlType.Q8_0, Q4_0 = TYPE == GgmlType.Q4_0;
    /** Weights and bytes per block. */
    private static final int BLOCK = TYPE.blockSize(), BYTES = TYPE.bytesPerBlock();

    private static GgmlType type() {
        try {
            GgmlType t = MethodHandles.classData(MethodHandles.lookup(), "_", GgmlType.class);
            if (t == null) throw new IllegalStateException("BlockKernels is a template: load it through VectorMatrix.specialize");
            return t;
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Per-block value handed to each of the block's {@link #weights} loads (for Q8_0 and Q4_0 the f16 scale, broadcast). */
    private static FloatVector scale(MemorySegment d, long q) {
        if (Q8_0 || Q4_0) return VectorMatrix.f16Scale(d, q);
        throw new AssertionError(TYPE);
    }

    /** Weights {@code [j, j+L)} of the block at byte {@code q}, as floats. */
    private static FloatVector weights(MemorySegment d, long q, int j, FloatVector s) {
        if (Q8_0) return VectorMatrix.q8Weights(d, q + 2 + j, s);
        if (Q4_0) return VectorMatrix.q4Weights(d, q + 2 + (j & 15), (j & 16) >> 2, s);
        throw new AssertionError(TYPE);
    }

    @Override
    public void rows4Times4(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o) {
        long q0 = r * rowBytes, q1 = q0 + rowBytes, q2 = q1 + rowBytes, q3 = q2 + rowBytes;
        int x0 = b * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int c = 0; c < cols; c += BLOCK, q0 += BYTES, q1 += BYTES, q2 += BYTES, q3 += BYTES) {
            FloatVector s0 = scale(d, q0), s1 = scale(d, q1), s2 = scale(d, q2), s3 = scale(d, q3);
            for (int j = 0; j < BLOCK; j += L) {
                FloatVector w0 = weights(d, q0, j, s0), w1 = weights(d, q1, j, s1), w2 = weights(d, q2, j, s2), w3 = weights(d, q3, j, s3);
                FloatVector v;
                v = FloatVector.fromArray(F, xs, x0 + c + j);
                a00 = w0.fma(v, a00); a10 = w1.fma(v, a10); a20 = w2.fma(v, a20); a30 = w3.fma(v, a30);
                v = FloatVector.fromArray(F, xs, x1 + c + j);
                a01 = w0.fma(v, a01); a11 = w1.fma(v, a11); a21 = w2.fma(v, a21); a31 = w3.fma(v, a31);
                v = FloatVector.fromArray(F, xs, x2 + c + j);
                a02 = w0.fma(v, a02); a12 = w1.fma(v, a12); a22 = w2.fma(v, a22); a32 = w3.fma(v, a32);
                v = FloatVector.fromArray(F, xs, x3 + c + j);
                a03 = w0.fma(v, a03); a13 = w1.fma(v, a13); a23 = w2.fma(v, a23); a33 = w3.fma(v, a33);
            }
        }
        // written out on purpose: a shared store helper was not always inlined and boxed its 16 vectors
        int oi = b * rows + r;
        o[oi] = a00.reduceLanes(VectorOperators.ADD);
        o[oi + 1] = a10.reduceLanes(VectorOperators.ADD);
        o[oi + 2] = a20.reduceLanes(VectorOperators.ADD);
        o[oi + 3] = a30.reduceLanes(VectorOperators.ADD);
        o[oi + rows] = a01.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 1] = a11.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 2] = a21.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 3] = a31.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows] = a02.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows + 1] = a12.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows + 2] = a22.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows + 3] = a32.reduceLanes(VectorOperators.ADD);
        o[oi + 3 * rows] = a03.reduceLanes(VectorOperators.ADD);
        o[oi + 3 * rows + 1] = a13.reduceLanes(VectorOperators.ADD);
        o[oi + 3 * rows + 2] = a23.reduceLanes(VectorOperators.ADD);
        o[oi + 3 * rows + 3] = a33.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void rows4Times3(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o) {
        long q0 = r * rowBytes, q1 = q0 + rowBytes, q2 = q1 + rowBytes, q3 = q2 + rowBytes;
        int x0 = b * cols, x1 = x0 + cols, x2 = x1 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        for (int c = 0; c < cols; c += BLOCK, q0 += BYTES, q1 += BYTES, q2 += BYTES, q3 += BYTES) {
            FloatVector s0 = scale(d, q0), s1 = scale(d, q1), s2 = scale(d, q2), s3 = scale(d, q3);
            for (int j = 0; j < BLOCK; j += L) {
                FloatVector w0 = weights(d, q0, j, s0), w1 = weights(d, q1, j, s1), w2 = weights(d, q2, j, s2), w3 = weights(d, q3, j, s3);
                FloatVector v;
                v = FloatVector.fromArray(F, xs, x0 + c + j);
                a00 = w0.fma(v, a00); a10 = w1.fma(v, a10); a20 = w2.fma(v, a20); a30 = w3.fma(v, a30);
                v = FloatVector.fromArray(F, xs, x1 + c + j);
                a01 = w0.fma(v, a01); a11 = w1.fma(v, a11); a21 = w2.fma(v, a21); a31 = w3.fma(v, a31);
                v = FloatVector.fromArray(F, xs, x2 + c + j);
                a02 = w0.fma(v, a02); a12 = w1.fma(v, a12); a22 = w2.fma(v, a22); a32 = w3.fma(v, a32);
            }
        }
        int oi = b * rows + r;
        o[oi] = a00.reduceLanes(VectorOperators.ADD);
        o[oi + 1] = a10.reduceLanes(VectorOperators.ADD);
        o[oi + 2] = a20.reduceLanes(VectorOperators.ADD);
        o[oi + 3] = a30.reduceLanes(VectorOperators.ADD);
        o[oi + rows] = a01.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 1] = a11.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 2] = a21.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 3] = a31.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows] = a02.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows + 1] = a12.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows + 2] = a22.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows + 3] = a32.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void rows4Times2(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o) {
        long q0 = r * rowBytes, q1 = q0 + rowBytes, q2 = q1 + rowBytes, q3 = q2 + rowBytes;
        int x0 = b * cols, x1 = x0 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int c = 0; c < cols; c += BLOCK, q0 += BYTES, q1 += BYTES, q2 += BYTES, q3 += BYTES) {
            FloatVector s0 = scale(d, q0), s1 = scale(d, q1), s2 = scale(d, q2), s3 = scale(d, q3);
            for (int j = 0; j < BLOCK; j += L) {
                FloatVector w0 = weights(d, q0, j, s0), w1 = weights(d, q1, j, s1), w2 = weights(d, q2, j, s2), w3 = weights(d, q3, j, s3);
                FloatVector v;
                v = FloatVector.fromArray(F, xs, x0 + c + j);
                a00 = w0.fma(v, a00); a10 = w1.fma(v, a10); a20 = w2.fma(v, a20); a30 = w3.fma(v, a30);
                v = FloatVector.fromArray(F, xs, x1 + c + j);
                a01 = w0.fma(v, a01); a11 = w1.fma(v, a11); a21 = w2.fma(v, a21); a31 = w3.fma(v, a31);
            }
        }
        int oi = b * rows + r;
        o[oi] = a00.reduceLanes(VectorOperators.ADD);
        o[oi + 1] = a10.reduceLanes(VectorOperators.ADD);
        o[oi + 2] = a20.reduceLanes(VectorOperators.ADD);
        o[oi + 3] = a30.reduceLanes(VectorOperators.ADD);
        o[oi + rows] = a01.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 1] = a11.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 2] = a21.reduceLanes(VectorOperators.ADD);
        o[oi + rows + 3] = a31.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void rows4Times1(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o) {
        long q0 = r * rowBytes, q1 = q0 + rowBytes, q2 = q1 + rowBytes, q3 = q2 + rowBytes;
        int x0 = b * cols;
        FloatVector a00 = FloatVector.zero(F), a10 = a00, a20 = a00, a30 = a00;
        for (int c = 0; c < cols; c += BLOCK, q0 += BYTES, q1 += BYTES, q2 += BYTES, q3 += BYTES) {
            FloatVector s0 = scale(d, q0), s1 = scale(d, q1), s2 = scale(d, q2), s3 = scale(d, q3);
            for (int j = 0; j < BLOCK; j += L) {
                FloatVector v = FloatVector.fromArray(F, xs, x0 + c + j);
                a00 = weights(d, q0, j, s0).fma(v, a00);
                a10 = weights(d, q1, j, s1).fma(v, a10);
                a20 = weights(d, q2, j, s2).fma(v, a20);
                a30 = weights(d, q3, j, s3).fma(v, a30);
            }
        }
        int oi = b * rows + r;
        o[oi] = a00.reduceLanes(VectorOperators.ADD);
        o[oi + 1] = a10.reduceLanes(VectorOperators.ADD);
        o[oi + 2] = a20.reduceLanes(VectorOperators.ADD);
        o[oi + 3] = a30.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void rowTimes4(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o) {
        long q = r * rowBytes;
        int x0 = b * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < cols; c += BLOCK, q += BYTES) {
            FloatVector s = scale(d, q);
            for (int j = 0; j < BLOCK; j += L) {
                FloatVector w = weights(d, q, j, s);
                int k = c + j;
                a0 = w.fma(FloatVector.fromArray(F, xs, x0 + k), a0);
                a1 = w.fma(FloatVector.fromArray(F, xs, x1 + k), a1);
                a2 = w.fma(FloatVector.fromArray(F, xs, x2 + k), a2);
                a3 = w.fma(FloatVector.fromArray(F, xs, x3 + k), a3);
            }
        }
        int oi = b * rows + r;
        o[oi] = a0.reduceLanes(VectorOperators.ADD);
        o[oi + rows] = a1.reduceLanes(VectorOperators.ADD);
        o[oi + 2 * rows] = a2.reduceLanes(VectorOperators.ADD);
        o[oi + 3 * rows] = a3.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void rowTimes2(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o) {
        long q = r * rowBytes;
        int x0 = b * cols, x1 = x0 + cols;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int c = 0; c < cols; c += BLOCK, q += BYTES) {
            FloatVector s = scale(d, q);
            for (int j = 0; j < BLOCK; j += L) {
                FloatVector w = weights(d, q, j, s);
                a0 = w.fma(FloatVector.fromArray(F, xs, x0 + c + j), a0);
                a1 = w.fma(FloatVector.fromArray(F, xs, x1 + c + j), a1);
            }
        }
        int oi = b * rows + r;
        o[oi] = a0.reduceLanes(VectorOperators.ADD);
        o[oi + rows] = a1.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void rowTimes1(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o) {
        long q = r * rowBytes;
        int x0 = b * cols;
        FloatVector a = FloatVector.zero(F);
        for (int c = 0; c < cols; c += BLOCK, q += BYTES) {
            FloatVector s = scale(d, q);
            for (int j = 0; j < BLOCK; j += L) a = weights(d, q, j, s).fma(FloatVector.fromArray(F, xs, x0 + c + j), a);
        }
        o[b * rows + r] = a.reduceLanes(VectorOperators.ADD);
    }
}
