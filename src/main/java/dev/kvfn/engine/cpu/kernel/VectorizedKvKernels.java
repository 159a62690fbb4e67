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
 * Vector API body of {@link KvKernels#attendRows}. Work is organised so each K/V byte is widened
 * once per call and then reused as often as possible: a block's K and V regions are widened to
 * f32 in a per-thread buffer, then every row of the call (consecutive positions of one sequence)
 * and every query head of the kv head's group (4 at a time) runs its scores, online softmax and
 * weighted values against it.
 *
 * <p>Scores: K regions are {@code [dim][token]}, so the scores of {@code L} tokens for 4 heads are
 * {@code headSize} loads of a K row, each feeding 4 FMAs with broadcast query elements — no
 * horizontal sums. Values: per token, 4 broadcast weights against {@code 4L} dims held in 16
 * accumulators. Softmax uses the vector {@code EXP}.
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

    /** Per-thread scratch: [0] K block, [1] V block, [2] running max and sum per (row, head). */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][0]);

    static void attendRows(int type, MemorySegment seg, int[] table, long blockBytes, long kRegion, long vRegion,
                           long kScale, long vScale, int bt, int hs, int firstPositions, int rows,
                           float[] q, int qOff, int qStride, int heads, float scale, float[] out, int outOff, int outStride) {
        float[] w = KvKernels.WEIGHTS.get();
        float[][] scratch = SCRATCH.get();
        int region = hs * bt;
        if (scratch[0].length < region) {
            scratch[0] = new float[region];
            scratch[1] = new float[region];
        }
        if (scratch[2].length < 2 * rows * heads) scratch[2] = new float[2 * rows * heads];
        float[] kf = scratch[0], vf = scratch[1], state = scratch[2];
        int states = rows * heads; // state[i] = running max, state[states + i] = running sum, i = row * heads + head
        java.util.Arrays.fill(state, 0, states, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(state, states, 2 * states, 0f);
        for (int r = 0; r < rows; r++) java.util.Arrays.fill(out, outOff + r * outStride, outOff + r * outStride + heads * hs, 0f);

        int lastPositions = firstPositions + rows - 1;
        for (int blk = 0, start = 0; start < lastPositions; blk++, start += bt) {
            long base = table[blk] * blockBytes;
            int maxCount = Math.min(bt, lastPositions - start);
            float ks = scale, vs = 1f;
            if (type == KvKernels.Q8) {
                ks *= seg.get(F32_LE, base + kScale);
                vs = seg.get(F32_LE, base + vScale);
            }
            widen(type, seg, base + kRegion, region, kf);
            widen(type, seg, base + vRegion, maxCount * hs, vf);
            for (int r = 0; r < rows; r++) {
                int count = Math.min(bt, firstPositions + r - start);
                if (count <= 0) continue; // this row's causal window ends before the block
                for (int h = 0; h < heads; h += 4) {
                    block4(kf, vf, count, bt, hs, q, qOff + r * qStride + h * hs, Math.min(4, heads - h), ks, vs, w,
                            state, r * heads + h, states, out, outOff + r * outStride + h * hs);
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                float inv = 1f / state[states + r * heads + h];
                int o = outOff + r * outStride + h * hs;
                for (int d = 0; d < hs; d++) out[o + d] *= inv;
            }
        }
    }

    /** Widens {@code n} elements at {@code region} to floats: one small loop per element type, so each stays vectorized. */
    private static void widen(int type, MemorySegment seg, long region, int n, float[] dst) {
        switch (type) {
            case KvKernels.F32 -> MemorySegment.copy(seg, F32_LE, region, dst, 0, n);
            case KvKernels.F16 -> widenF16(seg, region, n, dst);
            default -> widenQ8(seg, region, n, dst);
        }
    }

    private static void widenF16(MemorySegment seg, long region, int n, float[] dst) {
        int i = 0;
        for (; i <= n - L; i += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, region + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0);
            // exponent+mantissa shifted into float position and rescaled by 2^(127-15): exact for normals and subnormals
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
     * One block (its first {@code count} tokens, widened in {@code kf}/{@code vf}) for {@code heads}
     * (1..4) query heads at {@code q[qo + i*hs]}: scores, online-softmax update of the running
     * (max, sum) in {@code state[si + i]} / {@code state[states + si + i]}, weighted values into
     * {@code out[oo + i*hs]}. Heads beyond {@code heads} repeat the last one and are never stored.
     */
    private static void block4(float[] kf, float[] vf, int count, int bt, int hs, float[] q, int qo, int heads, float ks, float vs,
                               float[] w, float[] state, int si, int states, float[] out, int oo) {
        int q1 = qo + Math.min(1, heads - 1) * hs, q2 = qo + Math.min(2, heads - 1) * hs, q3 = qo + Math.min(3, heads - 1) * hs;
        int w1 = bt, w2 = 2 * bt, w3 = 3 * bt;
        FloatVector x0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), x1 = x0, x2 = x0, x3 = x0;
        for (int t0 = 0; t0 < count; t0 += L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < hs; d++) {
                FloatVector k = FloatVector.fromArray(F, kf, d * bt + t0);
                a0 = k.fma(FloatVector.broadcast(F, q[qo + d]), a0);
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
        // online softmax per head: raise the running max, rescaling what was accumulated; weights = exp(score - max)
        softmaxStep(w, 0, count, x0.reduceLanes(VectorOperators.MAX), state, si, states, out, oo, hs, vs);
        if (heads > 1) softmaxStep(w, w1, count, x1.reduceLanes(VectorOperators.MAX), state, si + 1, states, out, oo + hs, hs, vs);
        if (heads > 2) softmaxStep(w, w2, count, x2.reduceLanes(VectorOperators.MAX), state, si + 2, states, out, oo + 2 * hs, hs, vs);
        if (heads > 3) softmaxStep(w, w3, count, x3.reduceLanes(VectorOperators.MAX), state, si + 3, states, out, oo + 3 * hs, hs, vs);

        int o1 = oo + Math.min(1, heads - 1) * hs, o2 = oo + Math.min(2, heads - 1) * hs, o3 = oo + Math.min(3, heads - 1) * hs;
        int u1 = heads > 1 ? w1 : 0, u2 = heads > 2 ? w2 : u1, u3 = heads > 3 ? w3 : u2;
        int d0 = 0;
        // 4 heads x 4 vectors of dims: each V row is loaded once and each weight broadcast once per token
        for (; d0 + 4 * L <= hs; d0 += 4 * L) {
            int e0 = d0, e1 = d0 + L, e2 = d0 + 2 * L, e3 = d0 + 3 * L;
            FloatVector c00 = FloatVector.fromArray(F, out, oo + e0), c01 = FloatVector.fromArray(F, out, oo + e1),
                    c02 = FloatVector.fromArray(F, out, oo + e2), c03 = FloatVector.fromArray(F, out, oo + e3);
            FloatVector c10 = FloatVector.fromArray(F, out, o1 + e0), c11 = FloatVector.fromArray(F, out, o1 + e1),
                    c12 = FloatVector.fromArray(F, out, o1 + e2), c13 = FloatVector.fromArray(F, out, o1 + e3);
            FloatVector c20 = FloatVector.fromArray(F, out, o2 + e0), c21 = FloatVector.fromArray(F, out, o2 + e1),
                    c22 = FloatVector.fromArray(F, out, o2 + e2), c23 = FloatVector.fromArray(F, out, o2 + e3);
            FloatVector c30 = FloatVector.fromArray(F, out, o3 + e0), c31 = FloatVector.fromArray(F, out, o3 + e1),
                    c32 = FloatVector.fromArray(F, out, o3 + e2), c33 = FloatVector.fromArray(F, out, o3 + e3);
            for (int t = 0; t < count; t++) {
                int row = t * hs + d0;
                FloatVector v0 = FloatVector.fromArray(F, vf, row), v1 = FloatVector.fromArray(F, vf, row + L),
                        v2 = FloatVector.fromArray(F, vf, row + 2 * L), v3 = FloatVector.fromArray(F, vf, row + 3 * L);
                FloatVector b0 = FloatVector.broadcast(F, w[t]);
                c00 = v0.fma(b0, c00); c01 = v1.fma(b0, c01); c02 = v2.fma(b0, c02); c03 = v3.fma(b0, c03);
                FloatVector b1 = FloatVector.broadcast(F, w[u1 + t]);
                c10 = v0.fma(b1, c10); c11 = v1.fma(b1, c11); c12 = v2.fma(b1, c12); c13 = v3.fma(b1, c13);
                FloatVector b2 = FloatVector.broadcast(F, w[u2 + t]);
                c20 = v0.fma(b2, c20); c21 = v1.fma(b2, c21); c22 = v2.fma(b2, c22); c23 = v3.fma(b2, c23);
                FloatVector b3 = FloatVector.broadcast(F, w[u3 + t]);
                c30 = v0.fma(b3, c30); c31 = v1.fma(b3, c31); c32 = v2.fma(b3, c32); c33 = v3.fma(b3, c33);
            }
            if (heads > 3) { c30.intoArray(out, o3 + e0); c31.intoArray(out, o3 + e1); c32.intoArray(out, o3 + e2); c33.intoArray(out, o3 + e3); }
            if (heads > 2) { c20.intoArray(out, o2 + e0); c21.intoArray(out, o2 + e1); c22.intoArray(out, o2 + e2); c23.intoArray(out, o2 + e3); }
            if (heads > 1) { c10.intoArray(out, o1 + e0); c11.intoArray(out, o1 + e1); c12.intoArray(out, o1 + e2); c13.intoArray(out, o1 + e3); }
            c00.intoArray(out, oo + e0); c01.intoArray(out, oo + e1); c02.intoArray(out, oo + e2); c03.intoArray(out, oo + e3);
        }
        for (; d0 + L <= hs; d0 += L) {
            FloatVector c0 = FloatVector.fromArray(F, out, oo + d0), c1 = FloatVector.fromArray(F, out, o1 + d0),
                    c2 = FloatVector.fromArray(F, out, o2 + d0), c3 = FloatVector.fromArray(F, out, o3 + d0);
            for (int t = 0; t < count; t++) {
                FloatVector v = FloatVector.fromArray(F, vf, t * hs + d0);
                c0 = v.fma(FloatVector.broadcast(F, w[t]), c0);
                c1 = v.fma(FloatVector.broadcast(F, w[u1 + t]), c1);
                c2 = v.fma(FloatVector.broadcast(F, w[u2 + t]), c2);
                c3 = v.fma(FloatVector.broadcast(F, w[u3 + t]), c3);
            }
            if (heads > 3) c3.intoArray(out, o3 + d0);
            if (heads > 2) c2.intoArray(out, o2 + d0);
            if (heads > 1) c1.intoArray(out, o1 + d0);
            c0.intoArray(out, oo + d0);
        }
        for (int d = d0; d < hs; d++) {
            float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
            for (int t = 0; t < count; t++) {
                float v = vf[t * hs + d];
                c0 += w[t] * v;
                c1 += w[u1 + t] * v;
                c2 += w[u2 + t] * v;
                c3 += w[u3 + t] * v;
            }
            out[oo + d] += c0;
            if (heads > 1) out[o1 + d] += c1;
            if (heads > 2) out[o2 + d] += c2;
            if (heads > 3) out[o3 + d] += c3;
        }
    }

    /** Turns one head's block scores at {@code w[wo ..]} into weights (times {@code vs}) and updates its running max and sum. */
    private static void softmaxStep(float[] w, int wo, int count, float blockMax, float[] state, int i, int states,
                                    float[] out, int oo, int hs, float vs) {
        float max = state[i];
        if (blockMax > max) {
            float r = (float) Math.exp(max - blockMax);
            state[states + i] *= r;
            for (int d = oo; d < oo + hs; d++) out[d] *= r;
            max = blockMax;
            state[i] = max;
        }
        FloatVector sum = FloatVector.zero(F);
        for (int t0 = 0; t0 < count; t0 += L) {
            FloatVector e = FloatVector.fromArray(F, w, wo + t0).sub(max).lanewise(VectorOperators.EXP);
            sum = sum.add(e);
            e.mul(vs).intoArray(w, wo + t0);
        }
        state[states + i] += sum.reduceLanes(VectorOperators.ADD);
    }
}
