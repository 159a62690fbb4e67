package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Quantize;
import dev.kvfn.model.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every kernel type x {vector, scalar} x batch {1, 7, 32} and the small-batch sizes around every
 * path boundary (every batch 1 to 17 for the block types), against a float64 reference built from values dequantized here, independently of
 * the kernels.
 */
class MatrixKernelTest {
    /** Float accumulation over up to 2048 terms: error relative to sum |w*x| stays far below this. */
    private static final double TOLERANCE = 2e-5;

    private static WorkerPool pool;
    private static Arena arena;

    @BeforeAll
    static void start() {
        pool = new WorkerPool(3); // more threads than cores: shares must still cover every row
        arena = Arena.ofShared();
    }

    @AfterAll
    static void stop() {
        pool.close();
        arena.close();
    }

    /** Every type the kernels implement. */
    static final List<GgmlType> TYPES = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
            GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K,
            GgmlType.Q5_K, GgmlType.Q6_K);

    /** A column count of a few blocks that is not a power of two: 7 blocks of 32, 3 super-blocks of 256. */
    private static int oddBlockCols(GgmlType type) {
        return type.blockSize() == 256 ? 768 : 224;
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType type : TYPES) {
            for (boolean vector : new boolean[] {true, false}) {
                for (int batch : new int[] {1, 7, 32}) {
                    list.add(Arguments.of(type, vector, batch, 67, 256));
                    list.add(Arguments.of(type, vector, batch, 67, 2048));
                    // Column counts that are not a multiple of the vector length exercise the scalar tails.
                    if (type.blockSize() == 1) list.add(Arguments.of(type, vector, batch, 5, 1037));
                    else list.add(Arguments.of(type, vector, batch, 5, oddBlockCols(type))); // tails of the unrolled block loops
                }
            }
        }
        // Small batches: every group split (4s, 6 as 3+3, tails of 3, 2, 1) and both sides of each path
        // limit; the block types, whose small-batch kernels differ per type, get every batch up to 17.
        // 13 rows over 3 threads leave shares with a partial 4-row block; 5 rows leave shares with no full block at all.
        int[] everySmallBatch = IntStream.rangeClosed(2, 17).toArray();
        for (GgmlType type : TYPES) {
            for (boolean vector : new boolean[] {true, false}) {
                for (int batch : type.blockSize() == 1 ? new int[] {2, 3, 4, 5, 6, 8, 9, 10, 16, 17} : everySmallBatch) {
                    list.add(Arguments.of(type, vector, batch, 67, 256));
                    list.add(Arguments.of(type, vector, batch, 13, 2048));
                    if (type.blockSize() == 1) list.add(Arguments.of(type, vector, batch, 5, 1037));
                    else list.add(Arguments.of(type, vector, batch, 5, oddBlockCols(type)));
                }
            }
        }
        // Three column tiles (VectorMatrix.KC = 1024) of the prefill path with a row count that leaves a partial 4-row tile.
        list.add(Arguments.of(GgmlType.Q8_0, true, 9, 70, 2 * 1024 + 64));
        list.add(Arguments.of(GgmlType.Q4_0, true, 66, 13, 512));
        list.add(Arguments.of(GgmlType.Q4_K, true, 9, 70, 2 * 1024 + 256));
        list.add(Arguments.of(GgmlType.Q6_K, true, 66, 13, 1024 + 512));
        list.add(Arguments.of(GgmlType.IQ4_NL, true, 9, 70, 2 * 1024 + 64));
        list.add(Arguments.of(GgmlType.Q2_K, true, 9, 70, 2 * 1024 + 256));
        list.add(Arguments.of(GgmlType.Q3_K, true, 66, 13, 1024 + 512));
        return list.stream();
    }

    @ParameterizedTest(name = "{0} vector={1} batch={2} {3}x{4}")
    @MethodSource("cases")
    void multiplyMatchesFloat64Reference(GgmlType type, boolean vector, int batch, int rows, int cols) {
        Random rnd = new Random(type.ordinal() * 1000L + batch * 31L + cols);
        float[] weights = gaussian(rnd, rows * cols);
        byte[] bytes = Quantize.encode(weights, type);
        double[] w = dequantize(bytes, type, rows * cols);
        float[] x = gaussian(rnd, batch * cols);

        for (MemorySegment seg : new MemorySegment[] {MemorySegment.ofArray(bytes), copyToNative(bytes)}) {
            Matrix m = build(type, rows, cols, seg, vector);
            assertEquals(rows, m.rows());
            assertEquals(cols, m.cols());
            float[] out = new float[batch * rows + 3];
            out[batch * rows] = 42f; // beyond the outputs: must stay untouched
            m.multiply(x, out, batch);
            assertEquals(42f, out[batch * rows]);
            for (int b = 0; b < batch; b++) {
                for (int r = 0; r < rows; r++) {
                    double ref = 0, mag = 0;
                    for (int c = 0; c < cols; c++) {
                        double p = w[r * cols + c] * x[b * cols + c];
                        ref += p;
                        mag += Math.abs(p);
                    }
                    double got = out[b * rows + r], want = ref, scale = mag;
                    double allowed = TOLERANCE * scale + (vector && batch == 1 ? int16RoundingBound(type, w, r, x, cols) : 0);
                    int bb = b, rr = r;
                    assertTrue(Math.abs(got - want) <= allowed,
                            () -> type + " batch " + bb + " row " + rr + ": got " + got + " want " + want + " (sum |w*x| " + scale + ")");
                }
            }
        }
    }

    /**
     * What rounding x to {@link Int16Input} can add to a row's product in the decode kernels that take it (Q4_0, Q3_K to Q6_K):
     * each x moves by at most half a step, max |x| of its block / 2046, so the sum by at most sum |w| times that.
     * Zero for the types that decode with float x.
     */
    private static double int16RoundingBound(GgmlType type, double[] w, int r, float[] x, int cols) {
        if (!java.util.Set.of(GgmlType.Q4_0, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K).contains(type)) return 0;
        double bound = 0;
        for (int c0 = 0; c0 < cols; c0 += Int16Input.BLOCK) {
            double max = 0, sumW = 0;
            for (int c = c0; c < c0 + Int16Input.BLOCK; c++) {
                max = Math.max(max, Math.abs(x[c]));
                sumW += Math.abs(w[r * cols + c]);
            }
            bound += sumW * max / (2.0 * Int16Input.LEVELS);
        }
        return bound;
    }

    /** The Q4_0 decode kernel rounds x to integers; an infinity or NaN in x must still come out, as from the float path. */
    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void decodePropagatesInfinityAndNaN(boolean vector) {
        int rows = 3, cols = 64;
        byte[] bytes = Quantize.encode(gaussian(new Random(5), rows * cols), GgmlType.Q4_0);
        Matrix m = build(GgmlType.Q4_0, rows, cols, copyToNative(bytes), vector);
        float[] x = gaussian(new Random(6), cols), out = new float[rows];
        m.multiply(x, out, 1);
        for (float v : out) assertTrue(Float.isFinite(v));
        x[40] = Float.NaN;
        m.multiply(x, out, 1);
        for (float v : out) assertTrue(Float.isNaN(v), "NaN in x gave " + v);
        x[40] = Float.POSITIVE_INFINITY;
        m.multiply(x, out, 1);
        for (float v : out) assertTrue(Float.isInfinite(v) || Float.isNaN(v), "infinity in x gave " + v);
        x[40] = 1f; // and back: the quantized path again, not stuck on the float one
        m.multiply(x, out, 1);
        for (float v : out) assertTrue(Float.isFinite(v));
    }

    @ParameterizedTest(name = "{0} vector={1}")
    @MethodSource("types")
    void rowDequantizesExactly(GgmlType type, boolean vector) {
        int rows = 7, cols = type.blockSize() == 256 ? 512 : 288;
        Random rnd = new Random(7 + type.ordinal());
        float[] weights = gaussian(rnd, rows * cols);
        byte[] bytes = Quantize.encode(weights, type);
        double[] w = dequantize(bytes, type, rows * cols);
        Matrix m = build(type, rows, cols, copyToNative(bytes), vector);
        float[] dst = new float[cols + 5];
        for (int r = 0; r < rows; r++) {
            m.row(r, dst, 3);
            for (int c = 0; c < cols; c++) {
                // Dequantization is one rounding of d*q (or exact for the float types).
                assertEquals(w[r * cols + c], dst[3 + c], Math.abs(w[r * cols + c]) * 1e-6, type + " row " + r + " col " + c);
            }
        }
        assertEquals(0f, dst[0]);
        assertEquals(0f, dst[cols + 3]);
    }

    static Stream<Arguments> types() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType type : TYPES) {
            list.add(Arguments.of(type, true));
            list.add(Arguments.of(type, false));
        }
        return list.stream();
    }

    /**
     * Random bytes, not the quantizer's output: every bit pattern of the levels, scales and mins (6-bit scales and mins
     * at 0 and 63, Q6_K scales at -128 and 127, Q3_K scales at -32 and 31, Q2_K's 4-bit ones at 0 and 15), with the f16 scales set to 0 in some blocks, tiny or large in others,
     * negative in others. Scalar and vector kernels, rows and products, against the independent decoder.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("blockTypes")
    void randomBlocksMatchTheLayout(GgmlType type) {
        int rows = 9, cols = 4 * 256, blocksPerRow = cols / type.blockSize(), size = type.bytesPerBlock();
        Random rnd = new Random(99 + type.ordinal());
        byte[] bytes = new byte[rows * blocksPerRow * size];
        rnd.nextBytes(bytes);
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        float[] halves = {0f, -0f, 1f, -0.5f, 0x1p-24f, 0x1p-14f, 3.0e-3f, -7.5e-2f, 65504f / 4096};
        for (int blk = 0; blk < rows * blocksPerRow; blk++) {
            int at = blk * size;
            for (int f : f16Fields(type)) bb.putShort(at + f, Float.floatToFloat16(halves[rnd.nextInt(halves.length)]));
            if (blk % 7 == 3) { // extreme scale bytes: all ones, then all zeros
                for (int i = 0; i < size; i++) if (!isF16Byte(type, i)) bytes[at + i] = (byte) 0xff;
            } else if (blk % 7 == 5) {
                for (int i = 0; i < size; i++) if (!isF16Byte(type, i)) bytes[at + i] = 0;
            }
        }
        double[] w = dequantize(bytes, type, rows * cols);
        float[] x = gaussian(rnd, 5 * cols);
        for (boolean vector : new boolean[] {true, false}) {
            Matrix m = build(type, rows, cols, copyToNative(bytes), vector);
            float[] dst = new float[cols];
            for (int r = 0; r < rows; r++) {
                m.row(r, dst, 0);
                for (int c = 0; c < cols; c++) {
                    assertEquals(w[r * cols + c], dst[c], Math.abs(w[r * cols + c]) * 1e-6, type + " vector=" + vector + " row " + r + " col " + c);
                }
            }
            for (int batch : new int[] {1, 5}) {
                float[] out = new float[batch * rows];
                m.multiply(x, out, batch);
                for (int b = 0; b < batch; b++) {
                    for (int r = 0; r < rows; r++) {
                        double ref = 0, mag = 0;
                        for (int c = 0; c < cols; c++) {
                            ref += w[r * cols + c] * x[b * cols + c];
                            mag += Math.abs(w[r * cols + c] * x[b * cols + c]);
                        }
                        double allowed = TOLERANCE * mag + (vector && batch == 1 ? int16RoundingBound(type, w, r, x, cols) : 0);
                        assertEquals(ref, out[b * rows + r], allowed, type + " vector=" + vector + " batch " + batch + " row " + r);
                    }
                }
            }
        }
    }

    static Stream<GgmlType> blockTypes() {
        return Stream.of(GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K,
                GgmlType.Q5_K, GgmlType.Q6_K);
    }

    /** Byte offsets of a block's f16 fields. */
    private static int[] f16Fields(GgmlType type) {
        return switch (type) {
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q5_0, IQ4_NL -> new int[] {0};
            case Q6_K -> new int[] {208};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            default -> throw new IllegalArgumentException(type.toString());
        };
    }

    private static boolean isF16Byte(GgmlType type, int i) {
        for (int f : f16Fields(type)) if (i == f || i == f + 1) return true;
        return false;
    }

    @Test
    void selectsVectorKernelsUnlessForcedScalar() {
        assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(), "Vector API module not present");
        byte[] bytes = Quantize.encode(new float[64], GgmlType.Q8_0);
        assertTrue(build(GgmlType.Q8_0, 2, 32, MemorySegment.ofArray(bytes), true).getClass().getName().contains("VectorMatrix"));
        assertEquals(ScalarMatrix.class, build(GgmlType.Q8_0, 2, 32, MemorySegment.ofArray(bytes), false).getClass());
    }

    @Test
    void concurrentMultipliesOnOneMatrixDoNotMix() throws Exception {
        int rows = 67, cols = 256;
        Random rnd = new Random(11);
        byte[] bytes = Quantize.encode(gaussian(rnd, rows * cols), GgmlType.Q4_0);
        for (boolean vector : new boolean[] {true, false}) {
            Matrix m = build(GgmlType.Q4_0, rows, cols, copyToNative(bytes), vector);
            float[][] xs = {gaussian(rnd, 7 * cols), gaussian(rnd, 7 * cols)};
            float[][][] want = new float[2][2][];
            for (int t = 0; t < 2; t++) {
                want[t][0] = new float[rows];
                want[t][1] = new float[7 * rows];
                m.multiply(xs[t], want[t][0], 1);
                m.multiply(xs[t], want[t][1], 7);
            }
            Thread[] threads = new Thread[2];
            Throwable[] failure = new Throwable[2];
            for (int t = 0; t < 2; t++) {
                int id = t;
                threads[t] = new Thread(() -> {
                    try {
                        float[] o1 = new float[rows], o7 = new float[7 * rows];
                        for (int i = 0; i < 300; i++) {
                            m.multiply(xs[id], o1, 1);
                            m.multiply(xs[id], o7, 7);
                            // Not bit-exact: a busy pool runs the range inline, so row tiles (and summation order) shift.
                            assertClose(want[id][0], o1, "decode, thread " + id);
                            assertClose(want[id][1], o7, "prefill, thread " + id);
                        }
                    } catch (Throwable e) {
                        failure[id] = e;
                    }
                });
                threads[t].start();
            }
            for (Thread t : threads) t.join();
            for (Throwable f : failure) if (f != null) throw new AssertionError("vector=" + vector, f);
        }
    }

    private static void assertClose(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-4 * (Math.abs(want[i]) + 1), what + " index " + i);
    }

    @Test
    void floatBackedHeapSegmentWorks() {
        // Vector loads reject heap segments not backed by byte[]: Matrices copies those once.
        float[] wv = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
        Tensor t = new Tensor("f", GgmlType.F32, new long[] {9, 2}, MemorySegment.ofArray(wv));
        Matrix m = Matrices.of(t, pool);
        float[] x = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        float[] out = new float[2];
        m.multiply(x, out, 1);
        assertEquals(45f, out[0]);
        assertEquals(126f, out[1]);
    }

    @Test
    void badInputsFailClearly() {
        byte[] bytes = Quantize.encode(new float[64], GgmlType.Q4_0);
        for (boolean vector : new boolean[] {true, false}) {
            Matrix m = build(GgmlType.Q4_0, 2, 32, MemorySegment.ofArray(bytes), vector);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.multiply(new float[31], new float[2], 1));
            assertTrue(e.getMessage().contains("x holds 31"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> m.multiply(new float[64], new float[3], 2));
            assertThrows(IllegalArgumentException.class, () -> m.multiply(new float[64], new float[4], 0));
            assertThrows(IllegalArgumentException.class, () -> m.row(2, new float[32], 0));
            assertThrows(IllegalArgumentException.class, () -> m.row(0, new float[40], 9));
        }
        Tensor small = new Tensor("short", GgmlType.Q8_0, new long[] {32, 4}, MemorySegment.ofArray(new byte[34 * 3]));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Matrices.of(small, pool));
        assertTrue(e.getMessage().contains("short"), e.getMessage());
        Tensor iq3s = new Tensor("iq3s", GgmlType.IQ3_S, new long[] {256, 1}, MemorySegment.ofArray(new byte[110]));
        e = assertThrows(IllegalArgumentException.class, () -> Matrices.of(iq3s, pool));
        assertTrue(e.getMessage().contains("iq3s: tensor type IQ3_S is not supported (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K"),
                e.getMessage());
    }

    private static Matrix build(GgmlType type, int rows, int cols, MemorySegment seg, boolean vector) {
        Tensor t = new Tensor("w", type, new long[] {cols, rows}, seg);
        String old = System.getProperty(Matrices.KERNELS_PROPERTY);
        try {
            if (vector) System.clearProperty(Matrices.KERNELS_PROPERTY);
            else System.setProperty(Matrices.KERNELS_PROPERTY, "scalar");
            return Matrices.of(t, pool);
        } finally {
            if (old == null) System.clearProperty(Matrices.KERNELS_PROPERTY);
            else System.setProperty(Matrices.KERNELS_PROPERTY, old);
        }
    }

    private static MemorySegment copyToNative(byte[] bytes) {
        MemorySegment seg = arena.allocate(bytes.length + 1L).asSlice(1, bytes.length); // deliberately misaligned
        seg.copyFrom(MemorySegment.ofArray(bytes));
        return seg;
    }

    static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    /** Independent decoder of the stored bytes, following the ggml layouts. */
    static double[] dequantize(byte[] bytes, GgmlType type, int n) {
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        double[] w = new double[n];
        switch (type) {
            case F32 -> { for (int i = 0; i < n; i++) w[i] = bb.getFloat(4 * i); }
            case F16 -> { for (int i = 0; i < n; i++) w[i] = Float.float16ToFloat(bb.getShort(2 * i)); }
            case BF16 -> { for (int i = 0; i < n; i++) w[i] = Float.intBitsToFloat((bb.getShort(2 * i) & 0xffff) << 16); }
            case Q8_0 -> {
                for (int blk = 0; blk < n / 32; blk++) {
                    double d = Float.float16ToFloat(bb.getShort(blk * 34));
                    for (int j = 0; j < 32; j++) w[blk * 32 + j] = d * bytes[blk * 34 + 2 + j];
                }
            }
            case Q4_0 -> {
                for (int blk = 0; blk < n / 32; blk++) {
                    double d = Float.float16ToFloat(bb.getShort(blk * 18));
                    for (int j = 0; j < 16; j++) {
                        int packed = bytes[blk * 18 + 2 + j] & 0xff;
                        w[blk * 32 + j] = d * ((packed & 15) - 8);
                        w[blk * 32 + 16 + j] = d * ((packed >> 4) - 8);
                    }
                }
            }
            case Q4_1, Q5_1, Q5_0 -> {
                // Q4_1: d, m, 16 bytes; Q5_1: d, m, u32 qh, 16 bytes; Q5_0: d, u32 qh, 16 bytes (levels - 16)
                int size = type.bytesPerBlock();
                boolean five = type != GgmlType.Q4_1, min = type != GgmlType.Q5_0;
                for (int blk = 0; blk < n / 32; blk++) {
                    int at = blk * size;
                    double d = Float.float16ToFloat(bb.getShort(at));
                    double m = min ? Float.float16ToFloat(bb.getShort(at + 2)) : 0;
                    long qh = five ? bb.getInt(at + (min ? 4 : 2)) & 0xffffffffL : 0;
                    int qs = at + (type == GgmlType.Q4_1 ? 4 : min ? 8 : 6);
                    for (int i = 0; i < 32; i++) {
                        int nibble = i < 16 ? bytes[qs + i] & 15 : (bytes[qs + i - 16] & 0xff) >> 4;
                        int q = nibble + (int) (((qh >> i) & 1) * 16);
                        w[blk * 32 + i] = min ? d * q + m : d * (q - 16);
                    }
                }
            }
            case IQ4_NL -> {
                int[] levels = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
                for (int blk = 0; blk < n / 32; blk++) {
                    double d = Float.float16ToFloat(bb.getShort(blk * 18));
                    for (int i = 0; i < 32; i++) {
                        int b = bytes[blk * 18 + 2 + (i & 15)] & 0xff;
                        w[blk * 32 + i] = d * levels[i < 16 ? b & 15 : b >> 4];
                    }
                }
            }
            case Q4_K, Q5_K -> {
                // d, dmin, 12 scale bytes, [Q5_K: 32 bytes of fifth bits], 128 nibble bytes
                boolean five = type == GgmlType.Q5_K;
                int size = type.bytesPerBlock();
                for (int blk = 0; blk < n / 256; blk++) {
                    int at = blk * size;
                    double d = Float.float16ToFloat(bb.getShort(at)), dmin = Float.float16ToFloat(bb.getShort(at + 2));
                    int[] sc = new int[12];
                    for (int i = 0; i < 12; i++) sc[i] = bytes[at + 4 + i] & 0xff;
                    for (int i = 0; i < 256; i++) {
                        int sub = i / 32, l = i % 32;
                        // 6-bit scale and min: sub-blocks 0-3 low bits of bytes sub and sub+4; 4-7 nibbles of byte sub+4
                        // with the top two bits of bytes sub-4 (scale) and sub (min)
                        int scale = sub < 4 ? sc[sub] & 63 : (sc[sub + 4] & 15) | (sc[sub - 4] >> 6) << 4;
                        int mn = sub < 4 ? sc[sub + 4] & 63 : (sc[sub + 4] >> 4) | (sc[sub] >> 6) << 4;
                        int qsByte = bytes[at + (five ? 48 : 16) + 32 * (sub / 2) + l] & 0xff;
                        int q = sub % 2 == 0 ? qsByte & 15 : qsByte >> 4;
                        if (five) q += ((bytes[at + 16 + l] >> sub) & 1) * 16;
                        w[blk * 256 + i] = d * scale * q - dmin * mn;
                    }
                }
            }
            case Q2_K -> {
                // scales[16] (per 16 weights: 4-bit scale in the low nibble, 4-bit min in the high one), qs[64], d, dmin
                for (int blk = 0; blk < n / 256; blk++) {
                    int at = blk * 84;
                    double d = Float.float16ToFloat(bb.getShort(at + 80)), dmin = Float.float16ToFloat(bb.getShort(at + 82));
                    for (int i = 0; i < 256; i++) {
                        int half = i / 128, group = (i % 128) / 32, l = i % 32, sm = bytes[at + i / 16] & 0xff;
                        int q = ((bytes[at + 16 + 32 * half + l] & 0xff) >> (2 * group)) & 3;
                        w[blk * 256 + i] = d * (sm & 15) * q - dmin * (sm >> 4);
                    }
                }
            }
            case Q3_K -> {
                // hmask[32], qs[64], scales[12], d; the 16 6-bit scales unpacked as ggml does, through 32-bit words
                for (int blk = 0; blk < n / 256; blk++) {
                    int at = blk * 110;
                    double d = Float.float16ToFloat(bb.getShort(at + 108));
                    int a0 = bb.getInt(at + 96), a1 = bb.getInt(at + 100), tmp = bb.getInt(at + 104);
                    int m2 = 0x0f0f0f0f, m1 = 0x03030303;
                    int[] words = {(a0 & m2) | ((tmp & m1) << 4), (a1 & m2) | (((tmp >>> 2) & m1) << 4),
                            ((a0 >>> 4) & m2) | (((tmp >>> 4) & m1) << 4), ((a1 >>> 4) & m2) | (((tmp >>> 6) & m1) << 4)};
                    for (int i = 0; i < 256; i++) {
                        int half = i / 128, group = (i % 128) / 32, l = i % 32, sub = i / 16;
                        int scale = ((words[sub / 4] >>> (8 * (sub % 4))) & 0xff) - 32;
                        int low = ((bytes[at + 32 + 32 * half + l] & 0xff) >> (2 * group)) & 3;
                        boolean high = ((bytes[at + l] & 0xff) & (1 << (4 * half + group))) != 0;
                        w[blk * 256 + i] = d * scale * (low - (high ? 0 : 4));
                    }
                }
            }
            case Q6_K -> {
                // ql[128], qh[64], int8 scales[16], d
                for (int blk = 0; blk < n / 256; blk++) {
                    int at = blk * 210;
                    double d = Float.float16ToFloat(bb.getShort(at + 208));
                    for (int i = 0; i < 256; i++) {
                        int half = i / 128, quarter = (i % 128) / 32, l = i % 32;
                        int ql = bytes[at + 64 * half + 32 * (quarter & 1) + l] & 0xff;
                        int low = quarter < 2 ? ql & 15 : ql >> 4;
                        int high = ((bytes[at + 128 + 32 * half + l] & 0xff) >> (2 * quarter)) & 3;
                        w[blk * 256 + i] = d * bytes[at + 192 + i / 16] * ((low | high << 4) - 32);
                    }
                }
            }
            default -> throw new IllegalArgumentException(type.toString());
        }
        return w;
    }
}
