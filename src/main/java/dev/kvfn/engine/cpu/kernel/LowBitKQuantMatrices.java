package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.kvfn.engine.cpu.kernel.VectorMatrix.B;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.F;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.I;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.I16;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.L;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.LE;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;

/**
 * Vector API kernels of the 2- and 3-bit K-quants, Q2_K and Q3_K (256 weights per super-block, a scale per 16). Both
 * keep a weight's low 2 bits the same way: weight 128h + 32j + l (l < 32) is bits 2j..2j+1 of byte 32h + l of the
 * 64-byte {@code qs}, so each group of L bytes is loaded once and serves the four weight groups j; since L <= 16,
 * each vector of L weights lies within one 16-weight sub-block and takes one broadcast scale. The layouts are spelled
 * out on {@link ScalarMatrix#decodeBlock}, the reference these kernels are tested against.
 *
 * <p>Decode is a fused dequantize-dot per row; batches above one take the tile path ({@link #dequantize} into a float
 * tile, then the 4x4 float kernel), as for the other K-quants.
 */
final class LowBitKQuantMatrices {
    private LowBitKQuantMatrices() {}

    /** L bytes at {@code off}, zero-extended to int lanes. */
    private static IntVector bytes(MemorySegment d, long off) {
        return (IntVector) ByteVector.fromMemorySegment(B, d, off, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
    }

    private static FloatVector floats(IntVector v) {
        return (FloatVector) v.convert(I2F, 0);
    }

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private static float f16(MemorySegment d, long at) {
        return Float.float16ToFloat(d.get(I16, at));
    }

    private static int u8(MemorySegment d, long at) {
        return d.get(ValueLayout.JAVA_BYTE, at) & 0xff;
    }

    /**
     * Q2_K: 84 bytes per 256 weights (16 scale/min bytes, 64 bytes qs, f16 d, f16 dmin), weight = d*sc*q - dmin*m per
     * sub-block of 16 (sc, m the nibbles of its byte). The min is folded into the weight with one fma ({@code q*ds - dm})
     * rather than out of the loop through sums of x: the per-32 sums {@link VectorMatrix#beforeDecode} keeps do not
     * split at 16.
     */
    static final class Q2KMatrix extends VectorMatrix {
        Q2KMatrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
            for (int c = 0; c < cols; c += 256, o += 84) {
                float scale = f16(d, o + 80), dmin = f16(d, o + 82);
                for (int half = 0; half < 2; half++) {
                    long qs = o + 16 + 32L * half;
                    int x0 = c + 128 * half, s0 = 8 * half;
                    for (int l = 0; l < 32; l += L) {
                        IntVector q = bytes(d, qs + l);
                        int s = s0 + (l >> 4); // sub-block of weights x0 + l: s, +32: s+2, +64: s+4, +96: s+6
                        int sm0 = u8(d, o + s), sm1 = u8(d, o + s + 2), sm2 = u8(d, o + s + 4), sm3 = u8(d, o + s + 6);
                        FloatVector w0 = floats(q.and(3)).fma(scale * (sm0 & 15), -dmin * (sm0 >>> 4));
                        FloatVector w1 = floats(q.lanewise(LSHR, 2).and(3)).fma(scale * (sm1 & 15), -dmin * (sm1 >>> 4));
                        FloatVector w2 = floats(q.lanewise(LSHR, 4).and(3)).fma(scale * (sm2 & 15), -dmin * (sm2 >>> 4));
                        FloatVector w3 = floats(q.lanewise(LSHR, 6)).fma(scale * (sm3 & 15), -dmin * (sm3 >>> 4));
                        acc0 = w0.fma(FloatVector.fromArray(F, x, x0 + l), acc0);
                        acc1 = w1.fma(FloatVector.fromArray(F, x, x0 + 32 + l), acc1);
                        acc0 = w2.fma(FloatVector.fromArray(F, x, x0 + 64 + l), acc0);
                        acc1 = w3.fma(FloatVector.fromArray(F, x, x0 + 96 + l), acc1);
                    }
                }
            }
            return acc0.add(acc1).reduceLanes(ADD);
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment d = data;
            long o = r * rowBytes + (k0 / 256) * 84L;
            for (int c = 0; c < kc; c += 256, o += 84) {
                float scale = f16(d, o + 80), dmin = f16(d, o + 82);
                for (int half = 0; half < 2; half++) {
                    long qs = o + 16 + 32L * half;
                    int w = off + c + 128 * half, s0 = 8 * half;
                    for (int l = 0; l < 32; l += L) {
                        IntVector q = bytes(d, qs + l);
                        int s = s0 + (l >> 4);
                        int sm0 = u8(d, o + s), sm1 = u8(d, o + s + 2), sm2 = u8(d, o + s + 4), sm3 = u8(d, o + s + 6);
                        floats(q.and(3)).fma(scale * (sm0 & 15), -dmin * (sm0 >>> 4)).intoArray(dst, w + l);
                        floats(q.lanewise(LSHR, 2).and(3)).fma(scale * (sm1 & 15), -dmin * (sm1 >>> 4)).intoArray(dst, w + 32 + l);
                        floats(q.lanewise(LSHR, 4).and(3)).fma(scale * (sm2 & 15), -dmin * (sm2 >>> 4)).intoArray(dst, w + 64 + l);
                        floats(q.lanewise(LSHR, 6)).fma(scale * (sm3 & 15), -dmin * (sm3 >>> 4)).intoArray(dst, w + 96 + l);
                    }
                }
            }
        }
    }

    /**
     * Q3_K: 110 bytes per 256 weights (32 bytes hmask, 64 bytes qs, 12 bytes of 6-bit scales, f16 d), weight =
     * d*(sc-32)*(q-4) with q's third bit in bit 4h + j of hmask[l]. Symmetric, so the scale is applied once per vector
     * of products, as for Q6_K.
     */
    static final class Q3KMatrix extends VectorMatrix {
        Q3KMatrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override boolean decodesInt16() { return true; }

        /**
         * In 16-bit integers as Q4_0's {@link VectorMatrix.Q4Matrix#dotInt16}: 16 bytes of qs and hmask per short
         * vector (one 16-weight scale), each level (-4 to 3) times x (at most 1023) in a short lane, summed pairwise
         * into int lanes and scaled once with an fma.
         */
        @Override
        float dotInt16(int r, Int16Input in) {
            MemorySegment d = data;
            short[] xq = in.q;
            float[] step = in.step;
            long o = r * rowBytes;
            FloatVector acc = FloatVector.zero(VectorMatrix.F8);
            for (int c = 0; c < cols; c += 256, o += 110) {
                float scale = f16(d, o + 108);
                long lows = d.get(I64, o + 96);
                int tops = d.get(I32, o + 104);
                for (int half = 0; half < 2; half++) {
                    long qs = o + 32 + 32L * half, sc = scales(lows, tops, half);
                    int x0 = c + 128 * half, sb = x0 / 32;
                    for (int l = 0; l < 32; l += 16) {
                        ShortVector q = VectorMatrix.shorts(d, qs + l), h = VectorMatrix.shorts(d, o + l).lanewise(LSHR, 4 * half);
                        for (int j = 0; j < 4; j++) {
                            float ds = scale * step[sb + j] * (((int) (sc >>> 8 * (2 * j + (l >> 4))) & 0xff) - 32);
                            IntVector t = VectorMatrix.pairSums(q.lanewise(LSHR, 2 * j).and((short) 3).or(h.lanewise(LSHR, j).and((short) 1).lanewise(LSHL, 2))
                                    .sub((short) 4).mul(ShortVector.fromArray(VectorMatrix.S16, xq, x0 + 32 * j + l)));
                            acc = ((FloatVector) t.convert(I2F, 0)).fma(FloatVector.broadcast(VectorMatrix.F8, ds), acc);
                        }
                    }
                }
            }
            return acc.reduceLanes(ADD);
        }

        /**
         * Each group of L bytes of qs and hmask is loaded once and serves the four weight groups j in a loop rather than
         * written out four times as for Q2_K: with the third bits, the written-out body was large enough for C2 to stop
         * inlining (NodeCountInliningCutoff). The scales are unpacked once per half ({@link #scales}): unpacking one
         * per vector from the bytes cost as much as the vector work.
         */
        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long o = r * rowBytes;
            FloatVector acc = FloatVector.zero(F);
            for (int c = 0; c < cols; c += 256, o += 110) {
                float scale = f16(d, o + 108);
                long lows = d.get(I64, o + 96);
                int tops = d.get(I32, o + 104);
                for (int half = 0; half < 2; half++) {
                    long qs = o + 32 + 32L * half, sc = scales(lows, tops, half);
                    int x0 = c + 128 * half;
                    for (int l = 0; l < 32; l += L) {
                        IntVector q = bytes(d, qs + l), h = bytes(d, o + l).lanewise(LSHR, 4 * half);
                        for (int j = 0; j < 4; j++) { // weight 128h + 32j + l: bits 2j of qs, bit 4h + j of hmask, sub-block 2j + l/16
                            FloatVector ds = FloatVector.broadcast(F, scale * (((int) (sc >>> 8 * (2 * j + (l >> 4))) & 0xff) - 32));
                            IntVector v = q.lanewise(LSHR, 2 * j).and(3).or(h.lanewise(LSHR, j).and(1).lanewise(LSHL, 2)).sub(4);
                            acc = floats(v).mul(FloatVector.fromArray(F, x, x0 + 32 * j + l)).fma(ds, acc);
                        }
                    }
                }
            }
            return acc.reduceLanes(ADD);
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment d = data;
            long o = r * rowBytes + (k0 / 256) * 110L;
            for (int c = 0; c < kc; c += 256, o += 110) {
                float scale = f16(d, o + 108);
                long lows = d.get(I64, o + 96);
                int tops = d.get(I32, o + 104);
                for (int half = 0; half < 2; half++) {
                    long qs = o + 32 + 32L * half, sc = scales(lows, tops, half);
                    int w = off + c + 128 * half;
                    for (int l = 0; l < 32; l += L) {
                        IntVector q = bytes(d, qs + l), h = bytes(d, o + l).lanewise(LSHR, 4 * half);
                        for (int j = 0; j < 4; j++) {
                            float ds = scale * (((int) (sc >>> 8 * (2 * j + (l >> 4))) & 0xff) - 32);
                            IntVector v = q.lanewise(LSHR, 2 * j).and(3).or(h.lanewise(LSHR, j).and(1).lanewise(LSHL, 2)).sub(4);
                            floats(v).mul(ds).intoArray(dst, w + 32 * j + l);
                        }
                    }
                }
            }
        }

        /**
         * The stored 6-bit scales (signed scale + 32) of half {@code half}'s sub-blocks 0-7 as the bytes of a long, from
         * {@code lows} (scale bytes 0-7, little-endian) and {@code tops} (bytes 8-11): the low 4 bits of sub-block k are
         * the low nibble of byte k (first half) or its high nibble (second half); its top 2 bits are bits
         * 8(k%4) + 2(k/4) of {@code tops}, shifted by 4 more for the second half.
         */
        private static long scales(long lows, int tops, int half) {
            long low = (lows >>> 4 * half) & 0x0f0f0f0f0f0f0f0fL;
            int th = tops >>> 4 * half;
            long top = (th & 0x03030303L) | ((th >>> 2) & 0x03030303L) << 32;
            return low | top << 4;
        }
    }
}
