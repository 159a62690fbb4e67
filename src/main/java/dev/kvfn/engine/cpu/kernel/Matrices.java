package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Picks the kernel for a tensor's type once, at load time. */
public final class Matrices {
    private Matrices() {}

    /** Set to {@code scalar} to force the plain-Java kernels even where the Vector API is present. */
    public static final String KERNELS_PROPERTY = "kvfn.kernels";

    public static Matrix of(Tensor t, WorkerPool pool) {
        if (t == null) throw new IllegalArgumentException("tensor is null");
        if (pool == null) throw new IllegalArgumentException(t.name() + ": worker pool is null");
        if (t.shape().length < 1 || t.shape().length > 2) throw new IllegalArgumentException(t.name() + ": not a matrix, shape has " + t.shape().length + " dimensions");
        if (!t.type().supported()) throw new IllegalArgumentException(t.name() + ": tensor type " + t.type() + " is not supported (supported: " + GgmlType.supportedNames() + ")");
        long need = t.type().bytesFor(t.cols()) * t.rows();
        if (t.data().byteSize() < need) {
            throw new IllegalArgumentException(t.name() + ": " + t.rows() + "x" + t.cols() + " " + t.type() + " needs " + need + " bytes, segment has " + t.data().byteSize());
        }
        // Checked before VectorMatrix is named, so without the module no Vector API class is ever loaded.
        if (vectorKernels() && VectorMatrix.usable()) return VectorMatrix.of(vectorLoadable(t), pool);
        return new ScalarMatrix(t, pool);
    }

    /** Whether {@link #of} would pick Vector API kernels (module present, not forced scalar). */
    public static boolean vectorKernels() {
        return !"scalar".equals(System.getProperty(KERNELS_PROPERTY)) && VectorMath.VECTOR_MODULE;
    }

    /**
     * What fixes the engine's floating-point results besides the model and its KV layout: the kernel family and, for the
     * Vector API kernels, the vector width (it sets the order of every sum). KV blocks computed under other numerics
     * differ in their last bits, enough to flip a near-tie greedy token, so they are cached under other keys.
     */
    public static String numerics() {
        return vectorKernels() && VectorMatrix.usable() ? "vector" + VectorMatrix.F.vectorBitSize() : "scalar";
    }

    /** Vector loads accept native segments and byte[]-backed heap segments only: copy anything else once. */
    private static Tensor vectorLoadable(Tensor t) {
        MemorySegment d = t.data();
        if (d.isNative() || d.heapBase().map(b -> b instanceof byte[]).orElse(false)) return t;
        MemorySegment copy = Arena.ofAuto().allocate(d.byteSize(), 64);
        copy.copyFrom(d);
        return new Tensor(t.name(), t.type(), t.shape(), copy);
    }

    static void checkMultiply(Matrix m, float[] x, float[] out, int batch) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (x == null || out == null) throw new IllegalArgumentException("x and out must not be null");
        if ((long) batch * m.cols() > x.length) {
            throw new IllegalArgumentException("x holds " + x.length + " floats, batch " + batch + " x cols " + m.cols() + " needed");
        }
        if ((long) batch * m.rows() > out.length) {
            throw new IllegalArgumentException("out holds " + out.length + " floats, batch " + batch + " x rows " + m.rows() + " needed");
        }
    }

    static void checkRow(Matrix m, int r, float[] dst, int offset) {
        if (r < 0 || r >= m.rows()) throw new IllegalArgumentException("row " + r + " out of range [0, " + m.rows() + ")");
        if (dst == null || offset < 0 || (long) offset + m.cols() > dst.length) {
            throw new IllegalArgumentException("dst cannot hold " + m.cols() + " floats at offset " + offset);
        }
    }
}
