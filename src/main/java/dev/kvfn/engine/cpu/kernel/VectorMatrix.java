package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Vector API kernels. Only {@link Matrices} reaches this class, and only after checking that the
 * {@code jdk.incubator.vector} module is present, so the scalar fallback never loads it.
 *
 * <p>Decode (batch 1) is one fused dequantize-dot per row, streaming the weights once: it is bound
 * by memory bandwidth, so the per-type hot loop stays in one method (vectors must not be boxed)
 * and keeps vector accumulators, applying block scales with an fma instead of reducing per block.
 *
 * <p>Prefill (batch above {@link #smallBatchLimit}) is compute-bound: each thread dequantizes a 4-row by {@link #KC}-column
 * tile of weights to floats once (it stays in L1) and runs a 4-row by 4-vector register-blocked
 * microkernel over a chunk of {@link #NB} input vectors (they stay in L2).
 *
 * <p>Small batches (2 to {@link #smallBatchLimit} vectors, e.g. one decode row per running sequence) of
 * the block types read each quantized block of 4 rows once, scale it in registers and fma it against
 * up to four input vectors at a time (16 accumulators), reducing once per (row, vector): the weights
 * are streamed once per multiply, as in decode, but serve every vector, and no tile is written.
 * Those kernels are written once, in {@code src/main/templates/BlockKernels.java.template}, over a
 * per-type weight loader, and each block type gets its own copy of that class, generated at build
 * time ({@code Q8_0Kernels}, {@code Q4_0Kernels}). From 8 vectors on (Q8_0), each group of 4 rows
 * is first dequantized to floats in a per-thread tile, then every group of 4 vectors reads the
 * floats: dequantizing is what bounds these steps (the 16-vector step is ~20% faster), and kernels
 * with more accumulators (2x8, 4x6) make C2 stop intrinsifying the Vector API calls.
 */
abstract sealed class VectorMatrix implements Matrix permits VectorMatrix.F32Matrix, VectorMatrix.F16Matrix,
        VectorMatrix.BF16Matrix, VectorMatrix.Q8Matrix, VectorMatrix.Q4Matrix, QuantVectorMatrices.Q4KMatrix,
        QuantVectorMatrices.Q5KMatrix, QuantVectorMatrices.Q6KMatrix, QuantVectorMatrices.Q4Q5Matrix, QuantVectorMatrices.Iq4NlMatrix,
        LowBitKQuantMatrices.Q2KMatrix, LowBitKQuantMatrices.Q3KMatrix {
    /** 512-bit where the CPU has it: 256-bit vectors cost ~25% on the decode path. */
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.length() >= 16
            ? FloatVector.SPECIES_512 : FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** {@code L} bytes / shorts: loaded then widened lane for lane to {@code L} floats. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** The 16-bit integer decode kernels ({@link #dotInt16}) work on 256 bits whatever the CPU's widest vectors. */
    static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;
    static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;

    /** 16 bytes at {@code off}, zero-extended to 16 short lanes (for the {@link Int16Input} kernels). */
    static ShortVector shorts(MemorySegment d, long off) {
        return (ShortVector) ByteVector.fromMemorySegment(B16, d, off, LE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S16, 0);
    }

    /** 16 short products summed pairwise into 8 int lanes: the two halves of each int, sign-extended, added (no shuffle). */
    static IntVector pairSums(ShortVector p) {
        IntVector i = p.reinterpretAsInts();
        return i.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(i.lanewise(VectorOperators.ASHR, 16));
    }

    /** Weight columns per prefill tile: 4 rows x 1024 floats = 16 KB, half of L1. */
    static final int KC = 1024;
    /** Input vectors per prefill chunk: 64 x 1024 floats = 256 KB, a quarter of L2. */
    static final int NB = 64;
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[4 * KC]);

    /** Whether these kernels can run here: the byte loads need vectors of at least 8 floats. */
    static boolean usable() {
        return L >= 8 && L <= 16;
    }

    static Matrix of(Tensor t, WorkerPool pool) {
        return switch (t.type()) {
            case F32 -> new F32Matrix(t, pool);
            case F16 -> new F16Matrix(t, pool);
            case BF16 -> new BF16Matrix(t, pool);
            case Q8_0 -> new Q8Matrix(t, pool);
            case Q4_0 -> new Q4Matrix(t, pool);
            case Q4_K -> new QuantVectorMatrices.Q4KMatrix(t, pool);
            case Q5_K -> new QuantVectorMatrices.Q5KMatrix(t, pool);
            case Q6_K -> new QuantVectorMatrices.Q6KMatrix(t, pool);
            case Q4_1, Q5_0, Q5_1 -> new QuantVectorMatrices.Q4Q5Matrix(t, pool);
            case IQ4_NL -> new QuantVectorMatrices.Iq4NlMatrix(t, pool);
            case Q2_K -> new LowBitKQuantMatrices.Q2KMatrix(t, pool);
            case Q3_K -> new LowBitKQuantMatrices.Q3KMatrix(t, pool);
            default -> throw new IllegalArgumentException(t.name() + ": no vector kernel for " + t.type());
        };
    }

    final MemorySegment data;
    final int rows;
    final int cols;
    final long rowBytes;
    private final WorkerPool pool;
    /** This block type's small-batch kernels; null where {@link #smallBatchLimit} is 1. */
    private final SmallBatchKernels small;
    /** Reused for every multiply that does not overlap another on this matrix: no allocation per call. */
    private final Call call;
    private final AtomicBoolean callInUse = new AtomicBoolean();

    VectorMatrix(Tensor t, WorkerPool pool, SmallBatchKernels small) {
        this.data = t.data();
        this.rows = t.rows();
        this.cols = t.cols();
        this.rowBytes = t.type().bytesFor(cols);
        this.pool = pool;
        this.small = small;
        this.call = new Call(this);
    }

    /**
     * The arguments of one multiply, handed to the pool's threads without allocating a lambda, plus
     * per-call scratch. A request thread that multiplies while another uses this matrix gets its own.
     */
    private static final class Call implements WorkerPool.RangeTask {
        final VectorMatrix m;
        /** Per 32-block sums of x (used by the float decode kernels that fold an offset out of the loop). */
        final float[] blockSums;
        /** x rounded to 16-bit integers, for the types whose decode kernel takes them; null for the others. */
        final Int16Input int16;
        float[] x;
        float[] out;
        int batch;

        Call(VectorMatrix m) {
            this.m = m;
            this.blockSums = new float[(m.cols + 31) / 32];
            this.int16 = m.decodesInt16() ? new Int16Input(m.cols) : null;
        }

        @Override
        public void run(int from, int to) {
            if (batch == 1) {
                float[] xs = x, o = out, sums = blockSums;
                Int16Input q = int16;
                if (q != null && q.finite) {
                    for (int r = from; r < to; r++) o[r] = m.dotInt16(r, q);
                } else {
                    for (int r = from; r < to; r++) o[r] = m.dot(r, xs, sums);
                }
            } else if (batch <= m.smallBatchLimit()) {
                m.smallBatch(from, to, x, out, batch);
            } else {
                m.prefill(from, to, x, out, batch);
            }
        }
    }

    @Override public final int rows() { return rows; }
    @Override public final int cols() { return cols; }

    @Override
    public final void multiply(float[] x, float[] out, int batch) {
        Matrices.checkMultiply(this, x, out, batch);
        boolean own = callInUse.compareAndSet(false, true);
        Call c = own ? call : new Call(this);
        c.x = x;
        c.out = out;
        c.batch = batch;
        if (batch == 1) {
            if (c.int16 != null) c.int16.quantize(x, cols);
            if (c.int16 == null || !c.int16.finite) beforeDecode(x, c.blockSums);
        }
        try {
            pool.forRange(rows, c);
        } finally {
            c.x = null;
            c.out = null;
            if (own) callInUse.set(false);
        }
    }

    /** Per-multiply preparation of the input for the decode path, on the calling thread. */
    void beforeDecode(float[] x, float[] blockSums) {}

    /** Whether decode takes x as {@link Int16Input} ({@link #dotInt16}) rather than floats. */
    boolean decodesInt16() {
        return false;
    }

    /** Row {@code r} times x rounded to 16-bit integers; only for the types whose {@link #decodesInt16} holds. */
    float dotInt16(int r, Int16Input x) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " decodes with float x");
    }

    @Override
    public final void row(int r, float[] dst, int offset) {
        Matrices.checkRow(this, r, dst, offset);
        dequantize(r, 0, cols, dst, offset);
    }

    /**
     * Largest batch for {@link #smallBatch}; 1 where there is none (the float types, whose tiles cost
     * a copy or a conversion, not a dequantization). Above it the tile path wins: it dequantizes once
     * per 64 vectors and its 4x4 float kernel needs fewer operations per fma than dequantizing per 4.
     */
    int smallBatchLimit() {
        return 1;
    }

    /**
     * The fused small-batch kernels of a block type, {@code o[(b+v)*rows + r+i] = W[r+i] . x[b+v]}:
     * {@code rows4TimesN} for rows {@code r..r+3} and vectors {@code b..b+N-1}, {@code rowTimesN} for
     * row {@code r} alone (a share's last rows). Four rows share each x load, four vectors each
     * dequantized weight vector: one input vector per row alone makes the x loads the bottleneck.
     * Written once in {@code src/main/templates/BlockKernels.java.template}, generated per type at build time.
     */
    interface SmallBatchKernels {
        void rows4Times4(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o);
        void rows4Times3(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o);
        void rows4Times2(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o);
        void rows4Times1(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o);
        void rowTimes4(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o);
        void rowTimes2(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o);
        void rowTimes1(MemorySegment d, long rowBytes, int rows, int cols, int r, float[] xs, int b, float[] o);
    }

    private static final ThreadLocal<float[]> SMALL_TILE = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Whether the small-batch path keeps each group of 4 rows dequantized as floats from 8 vectors on,
     * instead of re-dequantizing them for every group of 4 vectors (measured faster for Q8_0).
     */
    boolean hasTiledSmallBatch() {
        return false;
    }

    /** As {@link SmallBatchKernels#rows4Times4} with the weights already dequantized in {@code tile} ({@code 4 x cols} floats). */
    void rows4Times4Kept(int r, float[] xs, int b, float[] o, float[] tile) {
        int x0 = b * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        int t1 = cols, t2 = 2 * cols, t3 = 3 * cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int c = 0; c < cols; c += L) {
            FloatVector w0 = FloatVector.fromArray(F, tile, c);
            FloatVector w1 = FloatVector.fromArray(F, tile, t1 + c);
            FloatVector w2 = FloatVector.fromArray(F, tile, t2 + c);
            FloatVector w3 = FloatVector.fromArray(F, tile, t3 + c);
            FloatVector v;
            v = FloatVector.fromArray(F, xs, x0 + c);
            a00 = w0.fma(v, a00); a10 = w1.fma(v, a10); a20 = w2.fma(v, a20); a30 = w3.fma(v, a30);
            v = FloatVector.fromArray(F, xs, x1 + c);
            a01 = w0.fma(v, a01); a11 = w1.fma(v, a11); a21 = w2.fma(v, a21); a31 = w3.fma(v, a31);
            v = FloatVector.fromArray(F, xs, x2 + c);
            a02 = w0.fma(v, a02); a12 = w1.fma(v, a12); a22 = w2.fma(v, a22); a32 = w3.fma(v, a32);
            v = FloatVector.fromArray(F, xs, x3 + c);
            a03 = w0.fma(v, a03); a13 = w1.fma(v, a13); a23 = w2.fma(v, a23); a33 = w3.fma(v, a33);
        }
        // written out in each kernel on purpose: a shared store4x4(o, oi, rows, a00..a33) helper was not always
        // inlined, its 16 vectors were boxed, and Q4_0 at batch 8 ran 8x slower (KernelBench, 166 -> 1324 ms a step)
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

    /** Rows {@code [from, to)} times {@code n} (2 to {@link #smallBatchLimit}) input vectors, weights read once per 4 rows. */
    private void smallBatch(int from, int to, float[] xs, float[] o, int n) {
        SmallBatchKernels k = small;
        MemorySegment d = data;
        long rb = rowBytes;
        int r = from;
        // From 8 vectors on, re-dequantizing the 4 rows for every group of 4 vectors costs more than keeping them as floats.
        boolean tiled = n >= 8 && hasTiledSmallBatch();
        float[] tile = tiled ? SMALL_TILE.get() : null;
        if (tiled && tile.length < 4 * cols) SMALL_TILE.set(tile = new float[4 * cols]);
        for (; r + 3 < to; r += 4) {
            int b = 0;
            if (tiled) {
                // The first 4 vectors dequantize the 4 rows once and keep them as floats; the others read the floats.
                for (int i = 0; i < 4; i++) dequantize(r + i, 0, cols, tile, i * cols);
                for (; b + 4 <= n; b += 4) rows4Times4Kept(r, xs, b, o, tile);
            } else {
                // Groups of 4, but 6 left as 3+3: the 2-vector kernel pays the dequantization per 2 fmas.
                for (; n - b >= 4 && n - b != 6; b += 4) k.rows4Times4(d, rb, rows, cols, r, xs, b, o);
                if (n - b == 6) {
                    k.rows4Times3(d, rb, rows, cols, r, xs, b, o);
                    b += 3;
                }
            }
            switch (n - b) {
                case 3 -> k.rows4Times3(d, rb, rows, cols, r, xs, b, o);
                case 2 -> k.rows4Times2(d, rb, rows, cols, r, xs, b, o);
                case 1 -> k.rows4Times1(d, rb, rows, cols, r, xs, b, o);
                default -> {}
            }
        }
        for (; r < to; r++) {
            int b = 0;
            for (; b + 3 < n; b += 4) k.rowTimes4(d, rb, rows, cols, r, xs, b, o);
            if (b + 1 < n) {
                k.rowTimes2(d, rb, rows, cols, r, xs, b, o);
                b += 2;
            }
            if (b < n) k.rowTimes1(d, rb, rows, cols, r, xs, b, o);
        }
    }

    /** Fused dequantize-dot of row {@code r} with {@code x[0 .. cols)}; {@code sums} as filled by {@link #beforeDecode}. */
    abstract float dot(int r, float[] x, float[] sums);

    /** Writes columns {@code [k0, k0+kc)} of row {@code r} as floats to {@code dst[off ..]}; block types need whole blocks. */
    abstract void dequantize(int r, int k0, int kc, float[] dst, int off);

    private void prefill(int from, int to, float[] xs, float[] o, int n) {
        float[] w = TILE.get();
        for (int b0 = 0; b0 < n; b0 += NB) {
            int b1 = Math.min(n, b0 + NB);
            for (int k0 = 0; k0 < cols; k0 += KC) {
                int kc = Math.min(KC, cols - k0);
                boolean first = k0 == 0;
                for (int r = from; r < to; r += 4) {
                    int mr = Math.min(4, to - r);
                    for (int i = 0; i < mr; i++) dequantize(r + i, k0, kc, w, i * kc);
                    if (mr == 4) {
                        int b = b0;
                        for (; b + 3 < b1; b += 4) tile4x4(w, kc, xs, b * cols + k0, cols, o, b * rows + r, rows, first);
                        for (; b < b1; b++) tile4x1(w, kc, xs, b * cols + k0, o, b * rows + r, first);
                    } else {
                        for (int i = 0; i < mr; i++) {
                            for (int b = b0; b < b1; b++) {
                                float v = tileDot(w, i * kc, xs, b * cols + k0, kc);
                                int oi = b * rows + r + i;
                                o[oi] = first ? v : o[oi] + v;
                            }
                        }
                    }
                }
            }
        }
    }

    /** out[4 rows x 4 vectors] (+)= w[4 x kc] . x[4 x kc]: 16 accumulators, 8 loads per 16 fmas. */
    private static void tile4x4(float[] w, int kc, float[] x, int xo, int xs, float[] out, int oo, int os, boolean first) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int k = 0;
        for (; k <= kc - L; k += L) {
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + xs + k);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * xs + k);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * xs + k);
            FloatVector w0 = FloatVector.fromArray(F, w, k);
            a00 = w0.fma(x0, a00); a01 = w0.fma(x1, a01); a02 = w0.fma(x2, a02); a03 = w0.fma(x3, a03);
            FloatVector w1 = FloatVector.fromArray(F, w, kc + k);
            a10 = w1.fma(x0, a10); a11 = w1.fma(x1, a11); a12 = w1.fma(x2, a12); a13 = w1.fma(x3, a13);
            FloatVector w2 = FloatVector.fromArray(F, w, 2 * kc + k);
            a20 = w2.fma(x0, a20); a21 = w2.fma(x1, a21); a22 = w2.fma(x2, a22); a23 = w2.fma(x3, a23);
            FloatVector w3 = FloatVector.fromArray(F, w, 3 * kc + k);
            a30 = w3.fma(x0, a30); a31 = w3.fma(x1, a31); a32 = w3.fma(x2, a32); a33 = w3.fma(x3, a33);
        }
        int t = kc - k; // scalar tail, only for float types whose column count is not a multiple of L
        store(out, oo, a00.reduceLanes(VectorOperators.ADD) + tail(w, k, x, xo + k, t), first);
        store(out, oo + os, a01.reduceLanes(VectorOperators.ADD) + tail(w, k, x, xo + xs + k, t), first);
        store(out, oo + 2 * os, a02.reduceLanes(VectorOperators.ADD) + tail(w, k, x, xo + 2 * xs + k, t), first);
        store(out, oo + 3 * os, a03.reduceLanes(VectorOperators.ADD) + tail(w, k, x, xo + 3 * xs + k, t), first);
        store(out, oo + 1, a10.reduceLanes(VectorOperators.ADD) + tail(w, kc + k, x, xo + k, t), first);
        store(out, oo + os + 1, a11.reduceLanes(VectorOperators.ADD) + tail(w, kc + k, x, xo + xs + k, t), first);
        store(out, oo + 2 * os + 1, a12.reduceLanes(VectorOperators.ADD) + tail(w, kc + k, x, xo + 2 * xs + k, t), first);
        store(out, oo + 3 * os + 1, a13.reduceLanes(VectorOperators.ADD) + tail(w, kc + k, x, xo + 3 * xs + k, t), first);
        store(out, oo + 2, a20.reduceLanes(VectorOperators.ADD) + tail(w, 2 * kc + k, x, xo + k, t), first);
        store(out, oo + os + 2, a21.reduceLanes(VectorOperators.ADD) + tail(w, 2 * kc + k, x, xo + xs + k, t), first);
        store(out, oo + 2 * os + 2, a22.reduceLanes(VectorOperators.ADD) + tail(w, 2 * kc + k, x, xo + 2 * xs + k, t), first);
        store(out, oo + 3 * os + 2, a23.reduceLanes(VectorOperators.ADD) + tail(w, 2 * kc + k, x, xo + 3 * xs + k, t), first);
        store(out, oo + 3, a30.reduceLanes(VectorOperators.ADD) + tail(w, 3 * kc + k, x, xo + k, t), first);
        store(out, oo + os + 3, a31.reduceLanes(VectorOperators.ADD) + tail(w, 3 * kc + k, x, xo + xs + k, t), first);
        store(out, oo + 2 * os + 3, a32.reduceLanes(VectorOperators.ADD) + tail(w, 3 * kc + k, x, xo + 2 * xs + k, t), first);
        store(out, oo + 3 * os + 3, a33.reduceLanes(VectorOperators.ADD) + tail(w, 3 * kc + k, x, xo + 3 * xs + k, t), first);
    }

    private static void store(float[] out, int i, float v, boolean first) {
        out[i] = first ? v : out[i] + v;
    }

    private static float tail(float[] w, int wo, float[] x, int xo, int n) {
        float v = 0f;
        for (int k = 0; k < n; k++) v += w[wo + k] * x[xo + k];
        return v;
    }

    /** out[4 rows x 1 vector] (+)= w[4 x kc] . x[kc], for the batch remainder. */
    private static void tile4x1(float[] w, int kc, float[] x, int xo, float[] out, int oo, boolean first) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k <= kc - L; k += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + k);
            a0 = FloatVector.fromArray(F, w, k).fma(xv, a0);
            a1 = FloatVector.fromArray(F, w, kc + k).fma(xv, a1);
            a2 = FloatVector.fromArray(F, w, 2 * kc + k).fma(xv, a2);
            a3 = FloatVector.fromArray(F, w, 3 * kc + k).fma(xv, a3);
        }
        float v0 = a0.reduceLanes(VectorOperators.ADD), v1 = a1.reduceLanes(VectorOperators.ADD);
        float v2 = a2.reduceLanes(VectorOperators.ADD), v3 = a3.reduceLanes(VectorOperators.ADD);
        for (; k < kc; k++) {
            float xk = x[xo + k];
            v0 += w[k] * xk; v1 += w[kc + k] * xk; v2 += w[2 * kc + k] * xk; v3 += w[3 * kc + k] * xk;
        }
        out[oo] = first ? v0 : out[oo] + v0;
        out[oo + 1] = first ? v1 : out[oo + 1] + v1;
        out[oo + 2] = first ? v2 : out[oo + 2] + v2;
        out[oo + 3] = first ? v3 : out[oo + 3] + v3;
    }

    /** One row of a dequantized tile against one input vector (rows left over after 4-row tiles). */
    private static float tileDot(float[] w, int wo, float[] x, int xo, int kc) {
        FloatVector acc = FloatVector.zero(F);
        int k = 0;
        for (; k <= kc - L; k += L) acc = FloatVector.fromArray(F, w, wo + k).fma(FloatVector.fromArray(F, x, xo + k), acc);
        float v = acc.reduceLanes(VectorOperators.ADD);
        for (; k < kc; k++) v += w[wo + k] * x[xo + k];
        return v;
    }

    /** A block's f16 scale at byte {@code q}, broadcast. */
    static FloatVector f16Scale(MemorySegment d, long q) {
        return FloatVector.broadcast(F, Float.float16ToFloat(d.get(I16, q)));
    }

    /** L weights of a Q8_0 block (the int8 at {@code off}) times the block's scale. */
    static FloatVector q8Weights(MemorySegment d, long off, FloatVector scale) {
        return ((FloatVector) ByteVector.fromMemorySegment(B, d, off, LE).convertShape(VectorOperators.B2F, F, 0)).mul(scale);
    }

    /**
     * L weights of a Q4_0 block times its scale: the nibbles of the L bytes at {@code off}, low ones
     * (weights j) for shift 0, high ones (weights j+16) for shift 4. One expression for both halves
     * keeps the 4-row kernels small enough for C2 to inline every vector operation (with separate
     * low/high code it hit NodeCountInliningCutoff, boxed vectors and ran 15x slower).
     */
    static FloatVector q4Weights(MemorySegment d, long off, int shift, FloatVector scale) {
        IntVector n = (IntVector) ByteVector.fromMemorySegment(B, d, off, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
        return ((FloatVector) n.lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(scale);
    }

    /** IEEE half bits (sign-extended to int lanes) to float: exact for zeros, subnormals and normals. */
    private static FloatVector halfToFloat(IntVector h) {
        // Shifting exponent+mantissa into float position and scaling by 2^(127-15) rebiases the exponent
        // and normalizes subnormals in one multiply. Inf/NaN halves come out as large finite values,
        // which no usable weight file contains.
        FloatVector magnitude = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
        return magnitude.reinterpretAsInts().or(h.and(0x8000_0000)).reinterpretAsFloats();
    }

    static final class F32Matrix extends VectorMatrix {
        F32Matrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long base = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
            int c = 0;
            for (; c <= cols - 2 * L; c += 2 * L) {
                acc0 = FloatVector.fromMemorySegment(F, d, base + 4L * c, LE).fma(FloatVector.fromArray(F, x, c), acc0);
                acc1 = FloatVector.fromMemorySegment(F, d, base + 4L * (c + L), LE).fma(FloatVector.fromArray(F, x, c + L), acc1);
            }
            for (; c <= cols - L; c += L) {
                acc0 = FloatVector.fromMemorySegment(F, d, base + 4L * c, LE).fma(FloatVector.fromArray(F, x, c), acc0);
            }
            float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
            for (; c < cols; c++) s += d.get(F32, base + 4L * c) * x[c];
            return s;
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment.copy(data, F32, r * rowBytes + 4L * k0, dst, off, kc);
        }
    }

    static final class F16Matrix extends VectorMatrix {
        F16Matrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long base = r * rowBytes;
            FloatVector acc = FloatVector.zero(F);
            int c = 0;
            for (; c <= cols - L; c += L) {
                IntVector h = (IntVector) ShortVector.fromMemorySegment(S, d, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0);
                FloatVector magnitude = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
                FloatVector w = magnitude.reinterpretAsInts().or(h.and(0x8000_0000)).reinterpretAsFloats();
                acc = w.fma(FloatVector.fromArray(F, x, c), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD);
            for (; c < cols; c++) s += Float.float16ToFloat(d.get(I16, base + 2L * c)) * x[c];
            return s;
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            long base = r * rowBytes + 2L * k0;
            int c = 0;
            for (; c <= kc - L; c += L) {
                IntVector h = (IntVector) ShortVector.fromMemorySegment(S, data, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0);
                halfToFloat(h).intoArray(dst, off + c);
            }
            for (; c < kc; c++) dst[off + c] = Float.float16ToFloat(data.get(I16, base + 2L * c));
        }
    }

    static final class BF16Matrix extends VectorMatrix {
        BF16Matrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long base = r * rowBytes;
            FloatVector acc = FloatVector.zero(F);
            int c = 0;
            for (; c <= cols - L; c += L) {
                FloatVector w = ShortVector.fromMemorySegment(S, d, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0)
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                acc = w.fma(FloatVector.fromArray(F, x, c), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD);
            for (; c < cols; c++) s += Float.intBitsToFloat(d.get(I16, base + 2L * c) << 16) * x[c];
            return s;
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            long base = r * rowBytes + 2L * k0;
            int c = 0;
            for (; c <= kc - L; c += L) {
                ShortVector.fromMemorySegment(S, data, base + 2L * c, LE).convertShape(VectorOperators.S2I, I, 0)
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, off + c);
            }
            for (; c < kc; c++) dst[off + c] = Float.intBitsToFloat(data.get(I16, base + 2L * c) << 16);
        }
    }

    /** Q8_0: per 32 weights an f16 scale then 32 int8 (34 bytes, unaligned). */
    static final class Q8Matrix extends VectorMatrix {
        private static final SmallBatchKernels KERNELS = new Q8_0Kernels(); // generated from BlockKernels.java.template

        Q8Matrix(Tensor t, WorkerPool pool) { super(t, pool, KERNELS); }

        @Override
        float dot(int r, float[] x, float[] sums) {
            // One block per iteration: unrolling over 2 or 4 blocks (which helps Q4_0) measured 20-25% slower here.
            MemorySegment d = data;
            long o = r * rowBytes;
            FloatVector acc = FloatVector.zero(F);
            for (int c = 0; c < cols; c += 32, o += 34) {
                float scale = Float.float16ToFloat(d.get(I16, o));
                FloatVector s = FloatVector.zero(F);
                for (int j = 0; j < 32; j += L) {
                    FloatVector w = (FloatVector) ByteVector.fromMemorySegment(B, d, o + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0);
                    s = w.fma(FloatVector.fromArray(F, x, c + j), s);
                }
                acc = s.fma(FloatVector.broadcast(F, scale), acc);
            }
            return acc.reduceLanes(VectorOperators.ADD);
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            long o = r * rowBytes + (k0 / 32) * 34L;
            for (int c = 0; c < kc; c += 32, o += 34) {
                float scale = Float.float16ToFloat(data.get(I16, o));
                for (int j = 0; j < 32; j += L) {
                    ((FloatVector) ByteVector.fromMemorySegment(B, data, o + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0))
                            .mul(scale).intoArray(dst, off + c + j);
                }
            }
        }

        /** Measured on the Llama-1B shapes, 2 threads: still ahead of the tile path at 16 (293 vs 340 ms per step). */
        @Override int smallBatchLimit() { return 16; }

        @Override boolean hasTiledSmallBatch() { return true; }
    }

    /** Q4_0: per 32 weights an f16 scale then 16 bytes; element j is the low nibble of byte j, j+16 its high nibble. */
    static final class Q4Matrix extends VectorMatrix {
        private static final SmallBatchKernels KERNELS = new Q4_0Kernels(); // generated from BlockKernels.java.template

        Q4Matrix(Tensor t, WorkerPool pool) { super(t, pool, KERNELS); }

        @Override boolean decodesInt16() { return true; }

        /**
         * sum (q-8)*d*x over a block is d*step*(sum q*xq - 8*sum xq): the 16 nibble bytes are zero-extended to
         * 16 short lanes once (low nibbles: weights j, high: j+16), multiplied by the rounded x in shorts, each
         * pair of short products summed into an int lane (shift tricks on the lanes reinterpreted as ints, no
         * shuffle), converted once per block and scaled with one fma. Folding the "-8" into the int lanes (each of
         * the 8 lanes less the block's sum) leaves nothing scalar but the scale. About half the instructions of
         * the float kernel per weight: 1.5x to 2x its speed on AVX2, where the float kernel is compute-bound.
         */
        @Override
        float dotInt16(int r, Int16Input in) {
            MemorySegment d = data;
            short[] xq = in.q;
            float[] step = in.step;
            int[] sums = in.sum;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F8), acc1 = acc0;
            int blocks = cols / 32, blk = 0;
            for (; blk + 1 < blocks; blk += 2, o += 36) {
                int c = blk * 32;
                ShortVector n0 = shorts(d, o + 2);
                ShortVector n1 = shorts(d, o + 20);
                ShortVector p0 = n0.and((short) 0x0f).mul(ShortVector.fromArray(S16, xq, c))
                        .add(n0.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S16, xq, c + 16)));
                ShortVector p1 = n1.and((short) 0x0f).mul(ShortVector.fromArray(S16, xq, c + 32))
                        .add(n1.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S16, xq, c + 48)));
                IntVector t0 = pairSums(p0).sub(sums[blk]), t1 = pairSums(p1).sub(sums[blk + 1]);
                acc0 = ((FloatVector) t0.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F8, Float.float16ToFloat(d.get(I16, o)) * step[blk]), acc0);
                acc1 = ((FloatVector) t1.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F8, Float.float16ToFloat(d.get(I16, o + 18)) * step[blk + 1]), acc1);
            }
            if (blk < blocks) { // an odd block count
                int c = blk * 32;
                ShortVector n0 = shorts(d, o + 2);
                ShortVector p0 = n0.and((short) 0x0f).mul(ShortVector.fromArray(S16, xq, c))
                        .add(n0.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S16, xq, c + 16)));
                IntVector t0 = pairSums(p0).sub(sums[blk]);
                acc0 = ((FloatVector) t0.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F8, Float.float16ToFloat(d.get(I16, o)) * step[blk]), acc0);
            }
            return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        }

        /** Per 32-block sums of x: lets the float kernel (x with an infinity or NaN) apply the "-8" once per block. */
        @Override
        void beforeDecode(float[] x, float[] blockSums) {
            for (int b = 0; b < blockSums.length; b++) {
                float s = 0f;
                for (int j = 0; j < 32; j++) s += x[b * 32 + j];
                blockSums[b] = s;
            }
        }

        @Override
        float dot(int r, float[] x, float[] sums) {
            // sum (q-8)*d*x = d*(sum q*x) - 8*d*(sum x): the nibbles are zero-extended to int lanes once
            // (x86 has no byte shifts) and converted without a subtraction; the -8 costs one scalar fma per block.
            // Four blocks per iteration on two accumulators: the per-block fixed cost (scale, broadcast,
            // bounds checks) then overlaps better (1 block: 21 t/s, 2: 23, 4: 24.7 on the 1B shapes).
            MemorySegment d = data;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
            float offset0 = 0f, offset1 = 0f;
            int blocks = cols / 32, blk = 0;
            for (; blk + 3 < blocks; blk += 4, o += 72) {
                int c = blk * 32;
                float scale0 = Float.float16ToFloat(d.get(I16, o));
                float scale1 = Float.float16ToFloat(d.get(I16, o + 18));
                float scale2 = Float.float16ToFloat(d.get(I16, o + 36));
                float scale3 = Float.float16ToFloat(d.get(I16, o + 54));
                FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
                for (int j = 0; j < 16; j += L) {
                    IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B, d, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B, d, o + 20 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    IntVector q2 = (IntVector) ByteVector.fromMemorySegment(B, d, o + 38 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    IntVector q3 = (IntVector) ByteVector.fromMemorySegment(B, d, o + 56 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    s0 = ((FloatVector) q0.and(0x0f).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + j), s0);
                    s1 = ((FloatVector) q1.and(0x0f).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 32 + j), s1);
                    s2 = ((FloatVector) q2.and(0x0f).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 64 + j), s2);
                    s3 = ((FloatVector) q3.and(0x0f).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 96 + j), s3);
                    s0 = ((FloatVector) q0.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 16 + j), s0);
                    s1 = ((FloatVector) q1.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 48 + j), s1);
                    s2 = ((FloatVector) q2.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 80 + j), s2);
                    s3 = ((FloatVector) q3.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 112 + j), s3);
                }
                acc0 = s0.fma(FloatVector.broadcast(F, scale0), acc0);
                acc1 = s1.fma(FloatVector.broadcast(F, scale1), acc1);
                acc0 = s2.fma(FloatVector.broadcast(F, scale2), acc0);
                acc1 = s3.fma(FloatVector.broadcast(F, scale3), acc1);
                offset0 += scale0 * sums[blk] + scale2 * sums[blk + 2];
                offset1 += scale1 * sums[blk + 1] + scale3 * sums[blk + 3];
            }
            for (; blk < blocks; blk++, o += 18) { // block count not a multiple of 4
                int c = blk * 32;
                float scale = Float.float16ToFloat(d.get(I16, o));
                FloatVector s = FloatVector.zero(F);
                for (int j = 0; j < 16; j += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, d, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    s = ((FloatVector) q.and(0x0f).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + j), s);
                    s = ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, c + 16 + j), s);
                }
                acc0 = s.fma(FloatVector.broadcast(F, scale), acc0);
                offset0 += scale * sums[blk];
            }
            return acc0.add(acc1).reduceLanes(VectorOperators.ADD) - 8f * (offset0 + offset1);
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            long o = r * rowBytes + (k0 / 32) * 18L;
            for (int c = 0; c < kc; c += 32, o += 18) {
                float scale = Float.float16ToFloat(data.get(I16, o));
                for (int j = 0; j < 16; j += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, data, o + 2 + j, LE).convertShape(VectorOperators.B2I, I, 0);
                    ((FloatVector) q.and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(scale).intoArray(dst, off + c + j);
                    ((FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(0x0f).sub(8).convert(VectorOperators.I2F, 0))
                            .mul(scale).intoArray(dst, off + c + 16 + j);
                }
            }
        }

        /** Measured on the Llama-1B shapes, 2 threads: even with the tile path at 8, behind it at 12 (239 vs 202 ms per step). */
        @Override int smallBatchLimit() { return 8; }
    }
}
