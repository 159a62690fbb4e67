package dev.kvfn.engine.cpu.kernel;

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

/**
 * Vector API body of {@link KvKernels#attend}. Each block's K and V regions are first widened to
 * f32 in a per-thread buffer (one short loop per element type), then shared by up to 4 query
 * heads. Scores: K regions are {@code [dim][token]}, so the scores of {@code L} tokens are
 * {@code headSize} FMAs of a broadcast query element with one row of K — no horizontal sums.
 * Softmax weights use the vector {@code EXP}. Values: {@code L} dims at a time, each token's row
 * scaled by its weight.
 */
final class VectorizedKvKernels {
    private VectorizedKvKernels() {}

    private static final VectorSpecies<Float> F = VectorMatrix.F;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;

    static boolean fits(int blockTokens) {
        return blockTokens % L == 0;
    }

    static void attend(int type, MemorySegment seg, int[] table, long blockBytes, long kRegion, long vRegion,
                       long kScale, long vScale, int bt, int hs, int positions,
                       float[] q, int qOff, float scale, float[] out, int outOff) {
        attend4(type, seg, table, blockBytes, kRegion, vRegion, kScale, vScale, bt, hs, positions, q, qOff, 1, scale, out, outOff);
    }

    /** Per-thread f32 copies of one block's K and V regions. */
    private static final ThreadLocal<float[][]> BLOCK = ThreadLocal.withInitial(() -> new float[2][0]);

    /** Widens {@code n} elements at {@code region} to floats: one small loop per element type, so each stays vectorized. */
    private static void widen(int type, MemorySegment seg, long region, int n, float[] dst) {
        switch (type) {
            case KvKernels.F32 -> MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT_UNALIGNED, region, dst, 0, n);
            case KvKernels.F16 -> widenF16(seg, region, n, dst);
            default -> widenQ8(seg, region, n, dst);
        }
    }

    private static void widenF16(MemorySegment seg, long region, int n, float[] dst) {
        int i = 0;
        for (; i <= n - L; i += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, region + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0);
            FloatVector magnitude = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
            magnitude.reinterpretAsInts().or(h.and(0x8000_0000)).reinterpretAsFloats().intoArray(dst, i);
        }
        for (; i < n; i++) dst[i] = Float.float16ToFloat(seg.get(I16_LE, region + 2L * i));
    }

    private static void widenQ8(MemorySegment seg, long region, int n, float[] dst) {
        int i = 0;
        for (; i <= n - L; i += L) {
            ((FloatVector) ByteVector.fromMemorySegment(B, seg, region + i, LE).convertShape(VectorOperators.B2F, F, 0)).intoArray(dst, i);
        }
        for (; i < n; i++) dst[i] = seg.get(I8, region + i);
    }

    /**
     * {@link #attend} for {@code heads} (1..4) query heads that share one kv head (grouped-query
     * attention), at {@code q[qOff + i*hs]}: each K and V vector is loaded and widened once and
     * used for all of them, which is what makes long-context prefill affordable. Heads beyond
     * {@code heads} repeat the last one and are not stored.
     */
    static void attend4(int type, MemorySegment seg, int[] table, long blockBytes, long kRegion, long vRegion,
                        long kScale, long vScale, int bt, int hs, int positions,
                        float[] q, int qOff, int heads, float scale, float[] out, int outOff) {
        float[] w = KvKernels.WEIGHTS.get();
        float[][] block = BLOCK.get();
        int region = hs * bt;
        if (block[0].length < region) {
            block[0] = new float[region];
            block[1] = new float[region];
        }
        float[] kf = block[0], vf = block[1];
        java.util.Arrays.fill(out, outOff, outOff + heads * hs, 0f);
        int dv = hs - hs % L;
        int q0 = qOff, q1 = qOff + Math.min(1, heads - 1) * hs, q2 = qOff + Math.min(2, heads - 1) * hs,
                q3 = qOff + Math.min(3, heads - 1) * hs;
        int w1 = bt, w2 = 2 * bt, w3 = 3 * bt;
        float m0 = Float.NEGATIVE_INFINITY, m1 = m0, m2 = m0, m3 = m0, s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        for (int blk = 0, start = 0; start < positions; blk++, start += bt) {
            long base = table[blk] * blockBytes;
            long kr = base + kRegion, vr = base + vRegion;
            int count = Math.min(bt, positions - start);
            float ks = scale, vs = 1f;
            if (type == KvKernels.Q8) {
                ks *= seg.get(F32_LE, base + kScale);
                vs = seg.get(F32_LE, base + vScale);
            }
            widen(type, seg, kr, region, kf);
            widen(type, seg, vr, count * hs, vf);
            FloatVector x0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), x1 = x0, x2 = x0, x3 = x0;
            for (int t0 = 0; t0 < count; t0 += L) {
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                for (int d = 0; d < hs; d++) {
                    FloatVector k = FloatVector.fromArray(F, kf, d * bt + t0);
                    a0 = k.fma(FloatVector.broadcast(F, q[q0 + d]), a0);
                    a1 = k.fma(FloatVector.broadcast(F, q[q1 + d]), a1);
                    a2 = k.fma(FloatVector.broadcast(F, q[q2 + d]), a2);
                    a3 = k.fma(FloatVector.broadcast(F, q[q3 + d]), a3);
                }
                a0 = a0.mul(ks);
                a1 = a1.mul(ks);
                a2 = a2.mul(ks);
                a3 = a3.mul(ks);
                if (t0 + L > count) {
                    var tail = F.indexInRange(t0, count).not();
                    a0 = a0.blend(Float.NEGATIVE_INFINITY, tail);
                    a1 = a1.blend(Float.NEGATIVE_INFINITY, tail);
                    a2 = a2.blend(Float.NEGATIVE_INFINITY, tail);
                    a3 = a3.blend(Float.NEGATIVE_INFINITY, tail);
                }
                a0.intoArray(w, t0);
                a1.intoArray(w, w1 + t0);
                a2.intoArray(w, w2 + t0);
                a3.intoArray(w, w3 + t0);
                x0 = x0.max(a0);
                x1 = x1.max(a1);
                x2 = x2.max(a2);
                x3 = x3.max(a3);
            }
            // online softmax, per head: raise the running max, rescale what was accumulated
            float b0 = x0.reduceLanes(VectorOperators.MAX), b1 = x1.reduceLanes(VectorOperators.MAX),
                    b2 = x2.reduceLanes(VectorOperators.MAX), b3 = x3.reduceLanes(VectorOperators.MAX);
            if (b0 > m0) { float r = (float) Math.exp(m0 - b0); s0 *= r; scale(out, outOff, hs, r); m0 = b0; }
            if (heads > 1 && b1 > m1) { float r = (float) Math.exp(m1 - b1); s1 *= r; scale(out, outOff + hs, hs, r); m1 = b1; }
            if (heads > 2 && b2 > m2) { float r = (float) Math.exp(m2 - b2); s2 *= r; scale(out, outOff + 2 * hs, hs, r); m2 = b2; }
            if (heads > 3 && b3 > m3) { float r = (float) Math.exp(m3 - b3); s3 *= r; scale(out, outOff + 3 * hs, hs, r); m3 = b3; }
            FloatVector e0 = FloatVector.zero(F), e1 = e0, e2 = e0, e3 = e0;
            for (int t0 = 0; t0 < count; t0 += L) {
                FloatVector e = FloatVector.fromArray(F, w, t0).sub(m0).lanewise(VectorOperators.EXP);
                e0 = e0.add(e);
                e.mul(vs).intoArray(w, t0);
                if (heads > 1) {
                    e = FloatVector.fromArray(F, w, w1 + t0).sub(m1).lanewise(VectorOperators.EXP);
                    e1 = e1.add(e);
                    e.mul(vs).intoArray(w, w1 + t0);
                }
                if (heads > 2) {
                    e = FloatVector.fromArray(F, w, w2 + t0).sub(m2).lanewise(VectorOperators.EXP);
                    e2 = e2.add(e);
                    e.mul(vs).intoArray(w, w2 + t0);
                }
                if (heads > 3) {
                    e = FloatVector.fromArray(F, w, w3 + t0).sub(m3).lanewise(VectorOperators.EXP);
                    e3 = e3.add(e);
                    e.mul(vs).intoArray(w, w3 + t0);
                }
            }
            s0 += e0.reduceLanes(VectorOperators.ADD);
            if (heads > 1) s1 += e1.reduceLanes(VectorOperators.ADD);
            if (heads > 2) s2 += e2.reduceLanes(VectorOperators.ADD);
            if (heads > 3) s3 += e3.reduceLanes(VectorOperators.ADD);
            // weighted values: each V row loaded once for all heads
            int o1 = outOff + Math.min(1, heads - 1) * hs, o2 = outOff + Math.min(2, heads - 1) * hs,
                    o3 = outOff + Math.min(3, heads - 1) * hs;
            int u1 = heads > 1 ? w1 : 0, u2 = heads > 2 ? w2 : u1, u3 = heads > 3 ? w3 : u2;
            for (int d0 = 0; d0 < dv; d0 += L) {
                FloatVector c0 = FloatVector.fromArray(F, out, outOff + d0), c1 = FloatVector.fromArray(F, out, o1 + d0),
                        c2 = FloatVector.fromArray(F, out, o2 + d0), c3 = FloatVector.fromArray(F, out, o3 + d0);
                for (int t = 0; t < count; t++) {
                    FloatVector v = FloatVector.fromArray(F, vf, t * hs + d0);
                    c0 = v.fma(FloatVector.broadcast(F, w[t]), c0);
                    c1 = v.fma(FloatVector.broadcast(F, w[u1 + t]), c1);
                    c2 = v.fma(FloatVector.broadcast(F, w[u2 + t]), c2);
                    c3 = v.fma(FloatVector.broadcast(F, w[u3 + t]), c3);
                }
                // heads beyond `heads` alias the last real one: only real heads are stored
                if (heads > 3) c3.intoArray(out, o3 + d0);
                if (heads > 2) c2.intoArray(out, o2 + d0);
                if (heads > 1) c1.intoArray(out, o1 + d0);
                c0.intoArray(out, outOff + d0);
            }
            for (int d = dv; d < hs; d++) {
                float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
                for (int t = 0; t < count; t++) {
                    float v = vf[t * hs + d];
                    c0 += w[t] * v;
                    c1 += w[u1 + t] * v;
                    c2 += w[u2 + t] * v;
                    c3 += w[u3 + t] * v;
                }
                out[outOff + d] += c0;
                if (heads > 1) out[o1 + d] += c1;
                if (heads > 2) out[o2 + d] += c2;
                if (heads > 3) out[o3 + d] += c3;
            }
        }
        scale(out, outOff, hs, 1f / s0);
        if (heads > 1) scale(out, outOff + hs, hs, 1f / s1);
        if (heads > 2) scale(out, outOff + 2 * hs, hs, 1f / s2);
        if (heads > 3) scale(out, outOff + 3 * hs, hs, 1f / s3);
    }

    private static void scale(float[] out, int off, int n, float r) {
        for (int i = off; i < off + n; i++) out[i] *= r;
    }

}
