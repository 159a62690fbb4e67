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
 * Vector API body of {@link KvKernels#attend}. Scores: K regions are {@code [dim][token]}, so the
 * scores of {@code L} tokens are {@code headSize} FMAs of a broadcast query element with one row
 * of K — no horizontal sums. Softmax weights use the vector {@code EXP}. Values: {@code L} dims at
 * a time, each token's row scaled by its weight.
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

    private static FloatVector load(int type, MemorySegment seg, long region, long element) {
        return switch (type) {
            case KvKernels.F32 -> FloatVector.fromMemorySegment(F, seg, region + 4 * element, LE);
            case KvKernels.F16 -> {
                IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, region + 2 * element, LE)
                        .convertShape(VectorOperators.S2I, I, 0);
                FloatVector magnitude = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f);
                yield magnitude.reinterpretAsInts().or(h.and(0x8000_0000)).reinterpretAsFloats();
            }
            default -> (FloatVector) ByteVector.fromMemorySegment(B, seg, region + element, LE)
                    .convertShape(VectorOperators.B2F, F, 0);
        };
    }

    static void attend(int type, MemorySegment seg, int[] table, long blockBytes, long kRegion, long vRegion,
                       long kScale, long vScale, int bt, int hs, int positions,
                       float[] q, int qOff, float scale, float[] out, int outOff) {
        float[] w = KvKernels.WEIGHTS.get();
        java.util.Arrays.fill(out, outOff, outOff + hs, 0f);
        int dv = hs - hs % L; // dims done with vectors; the rest scalar
        float max = Float.NEGATIVE_INFINITY, sum = 0f;
        for (int blk = 0, start = 0; start < positions; blk++, start += bt) {
            long base = table[blk] * blockBytes;
            long kr = base + kRegion, vr = base + vRegion;
            int count = Math.min(bt, positions - start);
            float ks = scale, vs = 1f;
            if (type == KvKernels.Q8) {
                ks *= seg.get(F32_LE, base + kScale);
                vs = seg.get(F32_LE, base + vScale);
            }
            // scores of the block, L tokens at a time
            FloatVector blockMaxV = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int t0 = 0; t0 < count; t0 += L) {
                FloatVector acc = FloatVector.zero(F);
                for (int d = 0; d < hs; d++) {
                    acc = load(type, seg, kr, (long) d * bt + t0).fma(FloatVector.broadcast(F, q[qOff + d]), acc);
                }
                acc = acc.mul(ks);
                if (t0 + L > count) acc = acc.blend(Float.NEGATIVE_INFINITY, F.indexInRange(t0, count).not());
                acc.intoArray(w, t0);
                blockMaxV = blockMaxV.max(acc);
            }
            float blockMax = blockMaxV.reduceLanes(VectorOperators.MAX);
            if (blockMax > max) {
                float r = (float) Math.exp(max - blockMax);
                sum *= r;
                for (int d = 0; d < hs; d++) out[outOff + d] *= r;
                max = blockMax;
            }
            FloatVector sumV = FloatVector.zero(F);
            for (int t0 = 0; t0 < count; t0 += L) {
                FloatVector e = FloatVector.fromArray(F, w, t0).sub(max).lanewise(VectorOperators.EXP);
                sumV = sumV.add(e);
                e.mul(vs).intoArray(w, t0);
            }
            sum += sumV.reduceLanes(VectorOperators.ADD);
            // weighted values
            for (int d0 = 0; d0 < dv; d0 += L) {
                FloatVector acc = FloatVector.fromArray(F, out, outOff + d0);
                for (int t = 0; t < count; t++) {
                    acc = load(type, seg, vr, (long) t * hs + d0).fma(FloatVector.broadcast(F, w[t]), acc);
                }
                acc.intoArray(out, outOff + d0);
            }
            for (int d = dv; d < hs; d++) {
                float a = out[outOff + d];
                for (int t = 0; t < count; t++) a += w[t] * scalar(type, seg, vr, (long) t * hs + d);
                out[outOff + d] = a;
            }
        }
        float inv = 1f / sum;
        for (int d = 0; d < hs; d++) out[outOff + d] *= inv;
    }

    private static float scalar(int type, MemorySegment seg, long region, long i) {
        return switch (type) {
            case KvKernels.F32 -> seg.get(F32_LE, region + 4 * i);
            case KvKernels.F16 -> Float.float16ToFloat(seg.get(I16_LE, region + 2 * i));
            default -> seg.get(I8, region + i);
        };
    }
}
