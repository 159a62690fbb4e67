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

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType type : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)) {
            for (boolean vector : new boolean[] {true, false}) {
                for (int batch : new int[] {1, 7, 32}) {
                    list.add(Arguments.of(type, vector, batch, 67, 256));
                    list.add(Arguments.of(type, vector, batch, 67, 2048));
                    // Column counts that are not a multiple of the vector length exercise the scalar tails.
                    if (type.blockSize() == 1) list.add(Arguments.of(type, vector, batch, 5, 1037));
                    else list.add(Arguments.of(type, vector, batch, 5, 224)); // 7 blocks: tails of the unrolled block loops
                }
            }
        }
        // Small batches: every group split (4s, 6 as 3+3, tails of 3, 2, 1) and both sides of each path
        // limit; the block types, whose small-batch kernels differ per type, get every batch up to 17.
        // 13 rows over 3 threads leave shares with a partial 4-row block; 5 rows leave shares with no full block at all.
        int[] everySmallBatch = IntStream.rangeClosed(2, 17).toArray();
        for (GgmlType type : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)) {
            for (boolean vector : new boolean[] {true, false}) {
                for (int batch : type.blockSize() == 1 ? new int[] {2, 3, 4, 5, 6, 8, 9, 10, 16, 17} : everySmallBatch) {
                    list.add(Arguments.of(type, vector, batch, 67, 256));
                    list.add(Arguments.of(type, vector, batch, 13, 2048));
                    if (type.blockSize() == 1) list.add(Arguments.of(type, vector, batch, 5, 1037));
                    else list.add(Arguments.of(type, vector, batch, 5, 224));
                }
            }
        }
        // Three column tiles (VectorMatrix.KC = 1024) of the prefill path with a row count that leaves a partial 4-row tile.
        list.add(Arguments.of(GgmlType.Q8_0, true, 9, 70, 2 * 1024 + 64));
        list.add(Arguments.of(GgmlType.Q4_0, true, 66, 13, 512));
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
                    int bb = b, rr = r;
                    assertTrue(Math.abs(got - want) <= TOLERANCE * scale,
                            () -> type + " batch " + bb + " row " + rr + ": got " + got + " want " + want + " (sum |w*x| " + scale + ")");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} vector={1}")
    @MethodSource("types")
    void rowDequantizesExactly(GgmlType type, boolean vector) {
        int rows = 7, cols = 288;
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
        for (GgmlType type : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)) {
            list.add(Arguments.of(type, true));
            list.add(Arguments.of(type, false));
        }
        return list.stream();
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
        Tensor q41 = new Tensor("q41", GgmlType.Q4_1, new long[] {32, 1}, MemorySegment.ofArray(new byte[20]));
        assertThrows(IllegalArgumentException.class, () -> Matrices.of(q41, pool));
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
            default -> throw new IllegalArgumentException(type.toString());
        }
        return w;
    }
}
