package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.kvfn.engine.cpu.kernel.VectorMatrix.B;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.F;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.F8;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.S16;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.pairSums;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.shorts;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.I;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.I16;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.L;
import static dev.kvfn.engine.cpu.kernel.VectorMatrix.LE;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;

/**
 * Vector API kernels of the block types added after Q4_0: the K-quants Q4_K, Q5_K, Q6_K (256 weights per
 * super-block, a scale per sub-block) and the 32-weight Q4_1, Q5_0, Q5_1, IQ4_NL. The layouts are spelled out on
 * {@link ScalarMatrix#decodeBlock}, the reference these kernels are tested against.
 *
 * <p>Decode is a fused dequantize-dot per row as for Q4_0: the integer levels are converted to floats and fma'd
 * against x per sub-block, the sub-block's scale is applied once with an fma, and additive mins/offsets are taken
 * out of the loop through per-32 sums of x ({@link VectorMatrix#beforeDecode}). Batches above one take the tile
 * path ({@link #dequantize} into a float tile, then the 4x4 float kernel): these types have no small-batch
 * template kernels yet, so {@code smallBatchLimit} stays 1.
 */
final class QuantVectorMatrices {
    private QuantVectorMatrices() {}

    private static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    /** 16 bytes: one IQ4_NL block's codes, and its level table (the whole table fits one 128-bit shuffle). */
    private static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;

    /** L bytes at {@code off}, zero-extended to int lanes. */
    private static IntVector bytes(MemorySegment d, long off) {
        return (IntVector) ByteVector.fromMemorySegment(B, d, off, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
    }

    private static FloatVector floats(IntVector v) {
        return (FloatVector) v.convert(I2F, 0);
    }

    private static float f16(MemorySegment d, long at) {
        return Float.float16ToFloat(d.get(I16, at));
    }

    /** Sums of x per 32 weights, for the kernels that fold a per-block offset out of the loop. */
    static void sums32(float[] x, float[] sums) {
        for (int b = 0; b < sums.length; b++) {
            float s = 0f;
            for (int j = 0; j < 32; j++) s += x[b * 32 + j];
            sums[b] = s;
        }
    }

    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    /** The int lanes of the {@link Int16Input} kernels: 256 bits, as their short vectors. */
    private static final VectorSpecies<Integer> I8x = IntVector.SPECIES_256;

    /**
     * The eight 6-bit scales of a Q4_K/Q5_K super-block, sub-block s in byte s, from the 12 scale bytes held in
     * registers ({@code lo}: bytes 0-7, {@code hi}: 8-11), without a branch: sub-blocks 0-3 are the low 6 bits of
     * bytes 0-3, sub-blocks 4-7 the low nibbles of bytes 8-11 under the top 2 bits of bytes 0-3. Against unpacking
     * them one at a time ({@link ScalarMatrix#scaleMinK4}'s branch and shifts, from registers): 0.96 (Q4_K) and 0.93
     * (Q5_K) of the decode step time; leaving the scales out altogether (wrong, as a bound) measured 0.76.
     */
    private static long scalesK4(long lo, int hi) {
        return lo & 0x3f3f3f3fL | ((hi & 0x0f0f0f0fL) | (lo & 0xc0c0c0c0L) >>> 2) << 32;
    }

    /** The eight 6-bit mins, as {@link #scalesK4}: bytes 4-7's low 6 bits, then bytes 8-11's high nibbles under bytes 4-7's top 2 bits. */
    private static long minsK4(long lo, int hi) {
        long upper = lo >>> 32;
        return upper & 0x3f3f3f3fL | ((hi >>> 4 & 0x0f0f0f0fL) | (upper & 0xc0c0c0c0L) >>> 2) << 32;
    }

    private static final IntVector BYTE_SHIFTS = IntVector.fromArray(I8x, new int[] {0, 0, 8, 8, 16, 16, 24, 24}, 0);

    /**
     * The eight bytes of {@code v} as float lanes, in the order 0 4 1 5 2 6 3 7 ({@link Int16Input#stepSum}'s): the
     * long broadcast to four lanes is eight ints, low and high word in turn, each shifted to its byte. (Through a
     * 64-bit byte vector and a B2F conversion C2 does not compile it: 2.5x the Q4_K step time.)
     */
    private static FloatVector byteFloats(long v) {
        IntVector words = LongVector.broadcast(LongVector.SPECIES_256, v).reinterpretAsInts();
        return (FloatVector) words.lanewise(LSHR, BYTE_SHIFTS).and(0xff).convert(I2F, 0);
    }

    /** Q4_K: 144 bytes per 256 weights, weight = d*sc*q - dmin*m per sub-block of 32. */
    static final class Q4KMatrix extends VectorMatrix {
        Q4KMatrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override void beforeDecode(float[] x, float[] sums) { sums32(x, sums); }

        @Override boolean decodesInt16() { return true; }

        /**
         * As Q4_0's {@link VectorMatrix.Q4Matrix#dotInt16}: per 64 weights the 32 nibble bytes are zero-extended to
         * two vectors of 16 shorts; their low nibbles times x make sub-block 2g, the high ones 2g+1 (two products
         * of at most 15 x 1023 per short lane), each summed pairwise into int lanes and scaled once. The mins
         * come out of the loop through the per-block sums of the rounded x.
         */
        @Override
        float dotInt16(int r, Int16Input in) {
            MemorySegment d = data;
            short[] xq = in.q;
            float[] step = in.step, stepSums = in.stepSum;
            long row = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F8), acc1 = acc0, mins = acc0;
            long scales = 0;
            float scale = 0f;
            for (int k = 0, groups = cols / 64; k < groups; k++) { // 64 weights a turn, a super-block every 4
                int g = k & 3;
                long o = row + (k >> 2) * 144L;
                if (g == 0) {
                    scale = f16(d, o);
                    long scales0to7 = d.get(I64, o + 4); // the 12 bytes of 6-bit scales and mins, read once
                    int scales8to11 = d.get(I32, o + 12);
                    scales = scalesK4(scales0to7, scales8to11);
                    // the eight sub-blocks' mins times their x sums, in one fma
                    mins = byteFloats(minsK4(scales0to7, scales8to11)).fma(FloatVector.fromArray(F8, stepSums, 2 * k).mul(f16(d, o + 2)), mins);
                }
                int sc0 = (int) (scales >>> 16 * g) & 0xff, sc1 = (int) (scales >>> 16 * g + 8) & 0xff;
                long qs = o + 16 + 32L * g;
                int x0 = 64 * k, sb = 2 * k;
                ShortVector na = (ShortVector) ByteVector.fromMemorySegment(B16, d, qs, LE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S16, 0);
                ShortVector nb = (ShortVector) ByteVector.fromMemorySegment(B16, d, qs + 16, LE).convertShape(VectorOperators.ZERO_EXTEND_B2S, S16, 0);
                ShortVector lo = na.and((short) 15).mul(ShortVector.fromArray(S16, xq, x0))
                        .add(nb.and((short) 15).mul(ShortVector.fromArray(S16, xq, x0 + 16)));
                ShortVector hi = na.lanewise(LSHR, 4).mul(ShortVector.fromArray(S16, xq, x0 + 32))
                        .add(nb.lanewise(LSHR, 4).mul(ShortVector.fromArray(S16, xq, x0 + 48)));
                IntVector ls = pairSums(lo), hs = pairSums(hi);
                acc0 = ((FloatVector) ls.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * sc0 * step[sb]), acc0);
                acc1 = ((FloatVector) hs.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * sc1 * step[sb + 1]), acc1);
            }
            return acc0.add(acc1).sub(mins).reduceLanes(ADD);
        }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
            float offset = 0f;
            for (int c = 0; c < cols; c += 256, o += 144) {
                float scale = f16(d, o), dmin = f16(d, o + 2);
                float mins = 0f;
                for (int g = 0; g < 4; g++) { // 64 weights: sub-block 2g in the low nibbles, 2g+1 in the high ones
                    int sm0 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g), sm1 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g + 1);
                    long qs = o + 16 + 32L * g;
                    int x0 = c + 64 * g;
                    FloatVector lo = FloatVector.zero(F), hi = lo;
                    for (int j = 0; j < 32; j += L) {
                        IntVector q = bytes(d, qs + j);
                        lo = floats(q.and(15)).fma(FloatVector.fromArray(F, x, x0 + j), lo);
                        hi = floats(q.lanewise(LSHR, 4)).fma(FloatVector.fromArray(F, x, x0 + 32 + j), hi);
                    }
                    acc0 = lo.fma(FloatVector.broadcast(F, scale * (sm0 & 0xff)), acc0);
                    acc1 = hi.fma(FloatVector.broadcast(F, scale * (sm1 & 0xff)), acc1);
                    int sb = c / 32 + 2 * g;
                    mins += (sm0 >>> 8) * sums[sb] + (sm1 >>> 8) * sums[sb + 1];
                }
                offset += dmin * mins;
            }
            return acc0.add(acc1).reduceLanes(ADD) - offset;
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment d = data;
            long o = r * rowBytes + (k0 / 256) * 144L;
            for (int c = 0; c < kc; c += 256, o += 144) {
                float scale = f16(d, o), dmin = f16(d, o + 2);
                for (int g = 0; g < 4; g++) {
                    int sm0 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g), sm1 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g + 1);
                    FloatVector s0 = FloatVector.broadcast(F, scale * (sm0 & 0xff)), m0 = FloatVector.broadcast(F, -dmin * (sm0 >>> 8));
                    FloatVector s1 = FloatVector.broadcast(F, scale * (sm1 & 0xff)), m1 = FloatVector.broadcast(F, -dmin * (sm1 >>> 8));
                    long qs = o + 16 + 32L * g;
                    int w = off + c + 64 * g;
                    for (int j = 0; j < 32; j += L) {
                        IntVector q = bytes(d, qs + j);
                        floats(q.and(15)).fma(s0, m0).intoArray(dst, w + j);
                        floats(q.lanewise(LSHR, 4)).fma(s1, m1).intoArray(dst, w + 32 + j);
                    }
                }
            }
        }
    }

    /** Q5_K: as Q4_K with a fifth bit per weight (bit s of qh[l] for weight l of sub-block s); 176 bytes per 256. */
    static final class Q5KMatrix extends VectorMatrix {
        Q5KMatrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override void beforeDecode(float[] x, float[] sums) { sums32(x, sums); }

        @Override boolean decodesInt16() { return true; }

        /**
         * As {@link Q4KMatrix#dotInt16} with the fifth bit: a level is at most 31, so one product (not two) per
         * short lane fits, and each product vector is summed pairwise into int lanes on its own.
         */
        @Override
        float dotInt16(int r, Int16Input in) {
            MemorySegment d = data;
            short[] xq = in.q;
            float[] step = in.step;
            int[] sums = in.sum;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F8), acc1 = acc0;
            float offset = 0f;
            for (int c = 0; c < cols; c += 256, o += 176) {
                float scale = f16(d, o), dmin = f16(d, o + 2);
                long scales0to7 = d.get(I64, o + 4);
                int scales8to11 = d.get(I32, o + 12);
                long scales = scalesK4(scales0to7, scales8to11), minimums = minsK4(scales0to7, scales8to11);
                float mins = 0f;
                for (int g = 0; g < 4; g++) {
                    int sc0 = (int) (scales >>> 16 * g) & 0xff, sc1 = (int) (scales >>> 16 * g + 8) & 0xff;
                    int m0 = (int) (minimums >>> 16 * g) & 0xff, m1 = (int) (minimums >>> 16 * g + 8) & 0xff;
                    long qs = o + 48 + 32L * g;
                    int x0 = c + 64 * g, sb = x0 / 32;
                    IntVector lo = IntVector.zero(I8x), hi = lo;
                    for (int j = 0; j < 32; j += 16) {
                        ShortVector q = shorts(d, qs + j);
                        ShortVector h = shorts(d, o + 16 + j).lanewise(LSHR, 2 * g);
                        lo = lo.add(pairSums(q.and((short) 15).or(h.and((short) 1).lanewise(LSHL, 4))
                                .mul(ShortVector.fromArray(S16, xq, x0 + j))));
                        hi = hi.add(pairSums(q.lanewise(LSHR, 4).or(h.and((short) 2).lanewise(LSHL, 3))
                                .mul(ShortVector.fromArray(S16, xq, x0 + 32 + j))));
                    }
                    float s0 = step[sb], s1 = step[sb + 1];
                    acc0 = ((FloatVector) lo.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * sc0 * s0), acc0);
                    acc1 = ((FloatVector) hi.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * sc1 * s1), acc1);
                    mins += m0 * s0 * sums[sb] + m1 * s1 * sums[sb + 1];
                }
                offset += dmin * mins;
            }
            return acc0.add(acc1).reduceLanes(ADD) - offset;
        }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
            float offset = 0f;
            for (int c = 0; c < cols; c += 256, o += 176) {
                float scale = f16(d, o), dmin = f16(d, o + 2);
                float mins = 0f;
                for (int g = 0; g < 4; g++) {
                    int sm0 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g), sm1 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g + 1);
                    long qs = o + 48 + 32L * g;
                    int x0 = c + 64 * g;
                    FloatVector lo = FloatVector.zero(F), hi = lo;
                    for (int j = 0; j < 32; j += L) {
                        IntVector q = bytes(d, qs + j);
                        IntVector h = bytes(d, o + 16 + j).lanewise(LSHR, 2 * g);
                        lo = floats(q.and(15).or(h.and(1).lanewise(LSHL, 4))).fma(FloatVector.fromArray(F, x, x0 + j), lo);
                        hi = floats(q.lanewise(LSHR, 4).or(h.and(2).lanewise(LSHL, 3))).fma(FloatVector.fromArray(F, x, x0 + 32 + j), hi);
                    }
                    acc0 = lo.fma(FloatVector.broadcast(F, scale * (sm0 & 0xff)), acc0);
                    acc1 = hi.fma(FloatVector.broadcast(F, scale * (sm1 & 0xff)), acc1);
                    int sb = c / 32 + 2 * g;
                    mins += (sm0 >>> 8) * sums[sb] + (sm1 >>> 8) * sums[sb + 1];
                }
                offset += dmin * mins;
            }
            return acc0.add(acc1).reduceLanes(ADD) - offset;
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment d = data;
            long o = r * rowBytes + (k0 / 256) * 176L;
            for (int c = 0; c < kc; c += 256, o += 176) {
                float scale = f16(d, o), dmin = f16(d, o + 2);
                for (int g = 0; g < 4; g++) {
                    int sm0 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g), sm1 = ScalarMatrix.scaleMinK4(d, o + 4, 2 * g + 1);
                    FloatVector s0 = FloatVector.broadcast(F, scale * (sm0 & 0xff)), m0 = FloatVector.broadcast(F, -dmin * (sm0 >>> 8));
                    FloatVector s1 = FloatVector.broadcast(F, scale * (sm1 & 0xff)), m1 = FloatVector.broadcast(F, -dmin * (sm1 >>> 8));
                    long qs = o + 48 + 32L * g;
                    int w = off + c + 64 * g;
                    for (int j = 0; j < 32; j += L) {
                        IntVector q = bytes(d, qs + j);
                        IntVector h = bytes(d, o + 16 + j).lanewise(LSHR, 2 * g);
                        floats(q.and(15).or(h.and(1).lanewise(LSHL, 4))).fma(s0, m0).intoArray(dst, w + j);
                        floats(q.lanewise(LSHR, 4).or(h.and(2).lanewise(LSHL, 3))).fma(s1, m1).intoArray(dst, w + 32 + j);
                    }
                }
            }
        }
    }

    /** Q6_K: 210 bytes per 256 weights (ql, qh, int8 scales per 16, f16 d at the end), weight = d*sc*(q-32). */
    static final class Q6KMatrix extends VectorMatrix {
        Q6KMatrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override boolean decodesInt16() { return true; }

        /**
         * In 16-bit integers as Q4_0's {@link VectorMatrix.Q4Matrix#dotInt16}: 16 weights (one scale) per short
         * vector, their level minus 32 (at most 32 in size) times x (at most 1023) fits a short lane; each
         * product vector is summed pairwise into int lanes and scaled once with an fma.
         */
        @Override
        float dotInt16(int r, Int16Input in) {
            MemorySegment d = data;
            short[] xq = in.q;
            float[] step = in.step;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F8), acc1 = acc0;
            for (int c = 0; c < cols; c += 256, o += 210) {
                float scale = f16(d, o + 208);
                for (int half = 0; half < 2; half++) {
                    long ql = o + 64L * half, qh = o + 128 + 32L * half, sc = o + 192 + 8L * half;
                    int x0 = c + 128 * half, sb = x0 / 32;
                    for (int l = 0; l < 32; l += 16) { // one 16-weight scale per vector
                        ShortVector a = shorts(d, ql + l), b = shorts(d, ql + 32 + l), h = shorts(d, qh + l);
                        int is = l >> 4;
                        ShortVector q1 = a.and((short) 15).or(h.and((short) 3).lanewise(LSHL, 4)).sub((short) 32);
                        ShortVector q2 = b.and((short) 15).or(h.lanewise(LSHL, 2).and((short) 48)).sub((short) 32);
                        ShortVector q3 = a.lanewise(LSHR, 4).or(h.and((short) 48)).sub((short) 32);
                        ShortVector q4 = b.lanewise(LSHR, 4).or(h.lanewise(LSHR, 2).and((short) 48)).sub((short) 32);
                        // written out, not through pairSums: with four calls in this body C2 stopped inlining it and
                        // boxed the vectors (KernelAb: 4.3x the step time)
                        IntVector p1 = q1.mul(ShortVector.fromArray(S16, xq, x0 + l)).reinterpretAsInts();
                        IntVector p2 = q2.mul(ShortVector.fromArray(S16, xq, x0 + 32 + l)).reinterpretAsInts();
                        IntVector p3 = q3.mul(ShortVector.fromArray(S16, xq, x0 + 64 + l)).reinterpretAsInts();
                        IntVector p4 = q4.mul(ShortVector.fromArray(S16, xq, x0 + 96 + l)).reinterpretAsInts();
                        p1 = p1.lanewise(LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p1.lanewise(VectorOperators.ASHR, 16));
                        p2 = p2.lanewise(LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p2.lanewise(VectorOperators.ASHR, 16));
                        p3 = p3.lanewise(LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p3.lanewise(VectorOperators.ASHR, 16));
                        p4 = p4.lanewise(LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p4.lanewise(VectorOperators.ASHR, 16));
                        acc0 = ((FloatVector) p1.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * step[sb] * d.get(I8, sc + is)), acc0);
                        acc1 = ((FloatVector) p2.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * step[sb + 1] * d.get(I8, sc + is + 2)), acc1);
                        acc0 = ((FloatVector) p3.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * step[sb + 2] * d.get(I8, sc + is + 4)), acc0);
                        acc1 = ((FloatVector) p4.convert(I2F, 0)).fma(FloatVector.broadcast(F8, scale * step[sb + 3] * d.get(I8, sc + is + 6)), acc1);
                    }
                }
            }
            return acc0.add(acc1).reduceLanes(ADD);
        }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long o = r * rowBytes;
            FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
            for (int c = 0; c < cols; c += 256, o += 210) {
                float scale = f16(d, o + 208);
                for (int half = 0; half < 2; half++) {
                    long ql = o + 64L * half, qh = o + 128 + 32L * half, sc = o + 192 + 8L * half;
                    int x0 = c + 128 * half;
                    for (int l = 0; l < 32; l += L) { // L <= 16: each vector lies within one 16-weight scale
                        IntVector a = bytes(d, ql + l), b = bytes(d, ql + 32 + l), h = bytes(d, qh + l);
                        int is = l >> 4;
                        FloatVector q1 = floats(a.and(15).or(h.and(3).lanewise(LSHL, 4)).sub(32));
                        FloatVector q2 = floats(b.and(15).or(h.lanewise(LSHL, 2).and(48)).sub(32));
                        FloatVector q3 = floats(a.lanewise(LSHR, 4).or(h.and(48)).sub(32));
                        FloatVector q4 = floats(b.lanewise(LSHR, 4).or(h.lanewise(LSHR, 2).and(48)).sub(32));
                        acc0 = q1.mul(FloatVector.fromArray(F, x, x0 + l)).fma(FloatVector.broadcast(F, scale * d.get(I8, sc + is)), acc0);
                        acc1 = q2.mul(FloatVector.fromArray(F, x, x0 + 32 + l)).fma(FloatVector.broadcast(F, scale * d.get(I8, sc + is + 2)), acc1);
                        acc0 = q3.mul(FloatVector.fromArray(F, x, x0 + 64 + l)).fma(FloatVector.broadcast(F, scale * d.get(I8, sc + is + 4)), acc0);
                        acc1 = q4.mul(FloatVector.fromArray(F, x, x0 + 96 + l)).fma(FloatVector.broadcast(F, scale * d.get(I8, sc + is + 6)), acc1);
                    }
                }
            }
            return acc0.add(acc1).reduceLanes(ADD);
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment d = data;
            long o = r * rowBytes + (k0 / 256) * 210L;
            for (int c = 0; c < kc; c += 256, o += 210) {
                float scale = f16(d, o + 208);
                for (int half = 0; half < 2; half++) {
                    long ql = o + 64L * half, qh = o + 128 + 32L * half, sc = o + 192 + 8L * half;
                    int w = off + c + 128 * half;
                    for (int l = 0; l < 32; l += L) {
                        IntVector a = bytes(d, ql + l), b = bytes(d, ql + 32 + l), h = bytes(d, qh + l);
                        int is = l >> 4;
                        floats(a.and(15).or(h.and(3).lanewise(LSHL, 4)).sub(32))
                                .mul(scale * d.get(I8, sc + is)).intoArray(dst, w + l);
                        floats(b.and(15).or(h.lanewise(LSHL, 2).and(48)).sub(32))
                                .mul(scale * d.get(I8, sc + is + 2)).intoArray(dst, w + 32 + l);
                        floats(a.lanewise(LSHR, 4).or(h.and(48)).sub(32))
                                .mul(scale * d.get(I8, sc + is + 4)).intoArray(dst, w + 64 + l);
                        floats(b.lanewise(LSHR, 4).or(h.lanewise(LSHR, 2).and(48)).sub(32))
                                .mul(scale * d.get(I8, sc + is + 6)).intoArray(dst, w + 96 + l);
                    }
                }
            }
        }
    }

    /**
     * Q4_1 (20 bytes: d, m, 16 nibble bytes), Q5_1 (24: d, m, u32 fifth bits, 16 bytes) and Q5_0 (22: d, u32, 16 bytes;
     * levels centred by -16): weight = d*q + m per 32, with m = -16d for Q5_0. One class: the three differ only in
     * byte offsets and two flags, read once per row.
     */
    static final class Q4Q5Matrix extends VectorMatrix {
        private final boolean fifthBit, hasMin;
        private final int bytesPerBlock, qhAt, qsAt;

        Q4Q5Matrix(Tensor t, WorkerPool pool) {
            super(t, pool, null);
            switch (t.type()) {
                case Q4_1 -> { fifthBit = false; hasMin = true; qhAt = -1; qsAt = 4; }
                case Q5_0 -> { fifthBit = true; hasMin = false; qhAt = 2; qsAt = 6; }
                case Q5_1 -> { fifthBit = true; hasMin = true; qhAt = 4; qsAt = 8; }
                default -> throw new IllegalArgumentException(t.type().toString());
            }
            bytesPerBlock = t.type().bytesPerBlock();
        }

        @Override void beforeDecode(float[] x, float[] sums) { sums32(x, sums); }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long o = r * rowBytes;
            int bytes = bytesPerBlock, qs = qsAt, qh = qhAt;
            boolean five = fifthBit, min = hasMin;
            IntVector iota = IntVector.zero(I).addIndex(1);
            FloatVector acc = FloatVector.zero(F);
            float offset = 0f;
            for (int c = 0, blk = 0; c < cols; c += 32, blk++, o += bytes) {
                float scale = f16(d, o);
                // never null: C2 dereferenced a null vector behind this branch in dequantize (SIGSEGV, Temurin 25.0.3)
                IntVector hv = IntVector.broadcast(I, five ? d.get(I32, o + qh) : 0);
                FloatVector s = FloatVector.zero(F);
                for (int j = 0; j < 16; j += L) {
                    IntVector q = bytes(d, o + qs + j);
                    IntVector lo = q.and(15), hi = q.lanewise(LSHR, 4);
                    if (five) {
                        lo = lo.or(hv.lanewise(LSHR, iota.add(j)).and(1).lanewise(LSHL, 4));
                        hi = hi.or(hv.lanewise(LSHR, iota.add(j + 16)).and(1).lanewise(LSHL, 4));
                    }
                    s = floats(lo).fma(FloatVector.fromArray(F, x, c + j), s);
                    s = floats(hi).fma(FloatVector.fromArray(F, x, c + 16 + j), s);
                }
                acc = s.fma(FloatVector.broadcast(F, scale), acc);
                offset += (min ? f16(d, o + 2) : -16f * scale) * sums[blk];
            }
            return acc.reduceLanes(ADD) + offset;
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment d = data;
            long o = r * rowBytes + (k0 / 32) * (long) bytesPerBlock;
            IntVector iota = IntVector.zero(I).addIndex(1);
            for (int c = 0; c < kc; c += 32, o += bytesPerBlock) {
                float scale = f16(d, o);
                FloatVector s = FloatVector.broadcast(F, scale);
                FloatVector m = FloatVector.broadcast(F, hasMin ? f16(d, o + 2) : -16f * scale);
                IntVector hv = IntVector.broadcast(I, fifthBit ? d.get(I32, o + qhAt) : 0); // never null, as in dot
                for (int j = 0; j < 16; j += L) {
                    IntVector q = bytes(d, o + qsAt + j);
                    IntVector lo = q.and(15), hi = q.lanewise(LSHR, 4);
                    if (fifthBit) {
                        lo = lo.or(hv.lanewise(LSHR, iota.add(j)).and(1).lanewise(LSHL, 4));
                        hi = hi.or(hv.lanewise(LSHR, iota.add(j + 16)).and(1).lanewise(LSHL, 4));
                    }
                    floats(lo).fma(s, m).intoArray(dst, off + c + j);
                    floats(hi).fma(s, m).intoArray(dst, off + c + 16 + j);
                }
            }
        }
    }

    /** IQ4_NL: 18 bytes per 32 (d, 16 nibble bytes as Q4_0), weight = d * LEVELS[code]; the lookup is one byte shuffle. */
    static final class Iq4NlMatrix extends VectorMatrix {
        Iq4NlMatrix(Tensor t, WorkerPool pool) { super(t, pool, null); }

        @Override
        float dot(int r, float[] x, float[] sums) {
            MemorySegment d = data;
            long o = r * rowBytes;
            ByteVector table = ByteVector.fromArray(B16, ScalarMatrix.IQ4_NL_LEVELS, 0);
            FloatVector acc = FloatVector.zero(F);
            for (int c = 0; c < cols; c += 32, o += 18) {
                ByteVector codes = ByteVector.fromMemorySegment(B16, d, o + 2, LE);
                ByteVector lo = codes.and((byte) 15).selectFrom(table), hi = codes.lanewise(LSHR, 4).selectFrom(table);
                FloatVector s;
                if (L == 16) {
                    s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromArray(F, x, c));
                    s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, c + 16), s);
                } else { // L == 8: each 16 levels are two vectors
                    s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromArray(F, x, c));
                    s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 1)).fma(FloatVector.fromArray(F, x, c + 8), s);
                    s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, c + 16), s);
                    s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 1)).fma(FloatVector.fromArray(F, x, c + 24), s);
                }
                acc = s.fma(FloatVector.broadcast(F, f16(d, o)), acc);
            }
            return acc.reduceLanes(ADD);
        }

        @Override
        void dequantize(int r, int k0, int kc, float[] dst, int off) {
            MemorySegment d = data;
            long o = r * rowBytes + (k0 / 32) * 18L;
            ByteVector table = ByteVector.fromArray(B16, ScalarMatrix.IQ4_NL_LEVELS, 0);
            for (int c = 0; c < kc; c += 32, o += 18) {
                float scale = f16(d, o);
                ByteVector codes = ByteVector.fromMemorySegment(B16, d, o + 2, LE);
                ByteVector lo = codes.and((byte) 15).selectFrom(table), hi = codes.lanewise(LSHR, 4).selectFrom(table);
                int w = off + c;
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).mul(scale).intoArray(dst, w);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0)).mul(scale).intoArray(dst, w + 16);
                if (L == 8) { // constant parts: C2 intrinsifies only those
                    ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 1)).mul(scale).intoArray(dst, w + 8);
                    ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 1)).mul(scale).intoArray(dst, w + 24);
                }
            }
        }
    }
}
