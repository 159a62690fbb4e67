package dev.kvfn.engine.cpu.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Paged-attention kernels over pool blocks (see {@code dev.kvfn.kv.KvLayout}): writing one token's
 * K or V head vector into a block in f32, f16 or q8, and one query head's attention over a
 * sequence's block table. Element type codes: {@link #F32}, {@link #F16}, {@link #Q8}.
 *
 * <p>K regions are {@code [dim][token]}, V regions {@code [token][dim]}; q8 regions share one f32
 * scale. Attention is an online softmax one block at a time: the block's scores, its max, the
 * rescale of what was accumulated when the max grows, then the block's weighted values. The Vector
 * API body runs when the module is present and a block is a whole number of vectors wide; the
 * scalar body here is the reference and the fallback.
 */
public final class KvKernels {
    private KvKernels() {}

    public static final int F32 = 0, F16 = 1, Q8 = 2;

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;

    private static final boolean VECTOR = VectorMath.VECTOR_MODULE && !"scalar".equals(System.getProperty(Matrices.KERNELS_PROPERTY));
    /** One block's scores / weights for up to 4 heads, per thread; blocks are at most 256 tokens. */
    static final ThreadLocal<float[]> WEIGHTS = ThreadLocal.withInitial(() -> new float[4 * 256]);

    /** Whether {@link #attend} takes the vector path for blocks of {@code blockTokens}. */
    public static boolean vectorized(int blockTokens) {
        return VECTOR && VectorizedKvKernels.fits(blockTokens);
    }

    /**
     * Stores {@code src[off .. off+headSize)} as token {@code slot} of a K region ({@code transposed})
     * or V region at {@code region}. For q8 the region's scale lives at {@code scaleAt}: slot 0 sets
     * it, a later token with a larger magnitude raises it and re-encodes the slots before it.
     */
    public static void write(int type, MemorySegment seg, long region, long scaleAt, boolean transposed, int blockTokens,
                             int headSize, int slot, float[] src, int off) {
        int stride = transposed ? blockTokens : 1;          // distance between consecutive dims of one token
        long first = transposed ? slot : (long) slot * headSize; // element index of (slot, dim 0)
        switch (type) {
            case F32 -> {
                for (int d = 0; d < headSize; d++) seg.set(F32_LE, region + 4 * (first + (long) d * stride), src[off + d]);
            }
            case F16 -> {
                for (int d = 0; d < headSize; d++) {
                    seg.set(I16_LE, region + 2 * (first + (long) d * stride), Float.floatToFloat16(src[off + d]));
                }
            }
            case Q8 -> {
                float amax = 0f;
                for (int d = 0; d < headSize; d++) amax = Math.max(amax, Math.abs(src[off + d]));
                float scale = seg.get(F32_LE, scaleAt);
                if (slot == 0 || amax > scale * 127f) {
                    float grown = amax / 127f;
                    if (slot > 0 && scale > 0f) rescale(seg, region, transposed, blockTokens, headSize, slot, scale / grown);
                    scale = grown;
                    seg.set(F32_LE, scaleAt, scale);
                }
                float inv = scale == 0f ? 0f : 1f / scale;
                for (int d = 0; d < headSize; d++) {
                    seg.set(I8, region + first + (long) d * stride, (byte) clampRound(src[off + d] * inv));
                }
            }
            default -> throw new IllegalArgumentException("unknown KV element type " + type);
        }
    }

    /** Re-encodes slots [0, slots) of a q8 region under a grown scale: q' = round(q * old / new). */
    private static void rescale(MemorySegment seg, long region, boolean transposed, int blockTokens, int headSize, int slots,
                                float ratio) {
        for (int t = 0; t < slots; t++) {
            for (int d = 0; d < headSize; d++) {
                long at = region + (transposed ? (long) d * blockTokens + t : (long) t * headSize + d);
                seg.set(I8, at, (byte) clampRound(seg.get(I8, at) * ratio));
            }
        }
    }

    private static int clampRound(float x) {
        return Math.max(-127, Math.min(127, Math.round(x)));
    }

    /**
     * Causal attention of one query head over positions {@code [0, positions)} of a sequence whose
     * blocks are {@code table[0 ..]}: writes {@code softmax(scale * q.K) . V} to
     * {@code out[outOff .. outOff+headSize)}. {@code kRegion}/{@code vRegion} are the byte offsets
     * of this (layer, kv head)'s regions inside a block, {@code kScale}/{@code vScale} of their q8 scales.
     */
    public static void attend(int type, MemorySegment seg, int[] table, long blockBytes, long kRegion, long vRegion,
                              long kScale, long vScale, int blockTokens, int headSize, int positions,
                              float[] q, int qOff, float scale, float[] out, int outOff) {
        attendRows(type, seg, table, blockBytes, kRegion, vRegion, kScale, vScale, blockTokens, headSize, positions, 1,
                q, qOff, 0, 1, scale, out, outOff, 0);
    }

    /**
     * {@link #attend} for {@code rows} consecutive positions of one sequence and the {@code heads}
     * query heads that share this kv head (grouped-query attention). Row {@code r} attends over
     * {@code [0, firstPositions + r)}; its head {@code i} reads {@code q[qOff + r*qStride + i*headSize ..]}
     * and writes {@code out[outOff + r*outStride + i*headSize ..]}. The vector path widens each block
     * once for all rows and heads.
     */
    public static void attendRows(int type, MemorySegment seg, int[] table, long blockBytes, long kRegion, long vRegion,
                                  long kScale, long vScale, int blockTokens, int headSize, int firstPositions, int rows,
                                  float[] q, int qOff, int qStride, int heads, float scale, float[] out, int outOff, int outStride) {
        if (VECTOR && VectorizedKvKernels.fits(blockTokens)) {
            VectorizedKvKernels.attendRows(type, seg, table, blockBytes, kRegion, vRegion, kScale, vScale, blockTokens, headSize,
                    firstPositions, rows, q, qOff, qStride, heads, scale, out, outOff, outStride);
            return;
        }
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                scalarAttend(type, seg, table, blockBytes, kRegion, vRegion, kScale, vScale, blockTokens, headSize,
                        firstPositions + r, q, qOff + r * qStride + h * headSize, scale, out, outOff + r * outStride + h * headSize);
            }
        }
    }

    static void scalarAttend(int type, MemorySegment seg, int[] table, long blockBytes, long kRegion, long vRegion,
                             long kScale, long vScale, int blockTokens, int headSize, int positions,
                             float[] q, int qOff, float scale, float[] out, int outOff) {
        float[] w = WEIGHTS.get();
        java.util.Arrays.fill(out, outOff, outOff + headSize, 0f);
        float max = Float.NEGATIVE_INFINITY, sum = 0f;
        for (int blk = 0, start = 0; start < positions; blk++, start += blockTokens) {
            long base = table[blk] * blockBytes;
            int count = Math.min(blockTokens, positions - start);
            float ks = type == Q8 ? seg.get(F32_LE, base + kScale) : 1f;
            float vs = type == Q8 ? seg.get(F32_LE, base + vScale) : 1f;
            float blockMax = Float.NEGATIVE_INFINITY;
            for (int t = 0; t < count; t++) {
                float s = 0f;
                for (int d = 0; d < headSize; d++) s += q[qOff + d] * element(type, seg, base + kRegion, (long) d * blockTokens + t);
                w[t] = s * ks * scale;
                blockMax = Math.max(blockMax, w[t]);
            }
            if (blockMax > max) {
                float r = (float) Math.exp(max - blockMax);
                sum *= r;
                for (int d = 0; d < headSize; d++) out[outOff + d] *= r;
                max = blockMax;
            }
            for (int t = 0; t < count; t++) {
                float e = (float) Math.exp(w[t] - max);
                sum += e;
                float wt = e * vs;
                long row = (long) t * headSize;
                for (int d = 0; d < headSize; d++) out[outOff + d] += wt * element(type, seg, base + vRegion, row + d);
            }
        }
        float inv = 1f / sum;
        for (int d = 0; d < headSize; d++) out[outOff + d] *= inv;
    }

    private static float element(int type, MemorySegment seg, long region, long i) {
        return switch (type) {
            case F32 -> seg.get(F32_LE, region + 4 * i);
            case F16 -> Float.float16ToFloat(seg.get(I16_LE, region + 2 * i));
            default -> seg.get(I8, region + i);
        };
    }
}
