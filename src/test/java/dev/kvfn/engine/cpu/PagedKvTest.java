package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.KvKernels;
import dev.kvfn.kv.BlockMemory;
import dev.kvfn.kv.BlockPool;
import dev.kvfn.kv.BlockTable;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.KvLayout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Paged attention against the plain f32 store: same K/V written through both, same queries; the
 * outputs agree within what the element type loses (f32: rounding only; f16: half precision; q8:
 * 1/254 of each head's range per element).
 */
class PagedKvTest {
    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (KvElementType type : KvElementType.values()) {
            for (int bt : new int[]{1, 4, 8, 16, 32}) {
                for (int headSize : new int[]{8, 64, 72}) out.add(Arguments.of(type, bt, headSize));
            }
        }
        return out.stream();
    }

    static float tolerance(KvElementType type) {
        return switch (type) {
            case F32 -> 2e-5f;
            case F16 -> 5e-3f;
            case Q8 -> 0.2f; // keys growing 7x inside a block on purpose: the scale follows the largest
        };
    }

    /**
     * Element {@code d} of the key ({@code value == false}) or value of (layer, position, kv head), decoded straight
     * from the pool's bytes by the layout's documented encoding: K regions {@code [dim][token]}, V {@code [token][dim]},
     * q8 with one f32 scale per region.
     */
    static float element(BlockMemory memory, KvLayout layout, BlockTable table, int layer, int position, int kvHead,
                         boolean value, int d) {
        long base = memory.offset(table.block(position / layout.blockTokens()));
        long region = base + layout.regionOffset(layer, value, kvHead);
        int slot = position % layout.blockTokens();
        long i = value ? (long) slot * layout.headSize() + d : (long) d * layout.blockTokens() + slot;
        var seg = memory.segment();
        return switch (layout.elementType()) {
            case F32 -> seg.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, region + 4 * i);
            case F16 -> Float.float16ToFloat(seg.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, region + 2 * i));
            case Q8 -> seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, region + i)
                    * seg.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base + layout.scaleOffset(layer, value, kvHead));
        };
    }

    @ParameterizedTest
    @MethodSource("cases")
    void pagedAttentionMatchesTheContiguousStore(KvElementType type, int blockTokens, int headSize) {
        int layers = 2, kvHeads = 2, positions = 77; // ends mid-block for most block sizes
        var layout = new KvLayout(layers, kvHeads, headSize, blockTokens, type);
        var rng = new SplittableRandom(blockTokens * 31L + headSize);
        var pool = new BlockPool(200);
        try (var memory = new BlockMemory(layout, 200)) {
            // shuffle the pool first so a sequence's blocks are not adjacent
            int[] scratch = new int[200];
            for (int i = 0; i < 200; i++) scratch[i] = pool.allocate();
            for (int i = 199; i > 0; i--) {
                int j = rng.nextInt(i + 1), t = scratch[i];
                scratch[i] = scratch[j];
                scratch[j] = t;
            }
            pool.release(scratch, 200);
            var table = new BlockTable(pool, blockTokens, 512);
            var paged = new PagedKv(memory, table);
            var plain = new ContiguousKv(layers, 512, kvHeads, headSize);
            int kvDim = kvHeads * headSize;
            float[] k = new float[kvDim], v = new float[kvDim];
            float maxDiff = 0;
            for (int p = 0; p < positions; p++) {
                if (p % blockTokens == 0) table.append(pool.allocate());
                for (int l = 0; l < layers; l++) {
                    for (int i = 0; i < kvDim; i++) {
                        // growing magnitudes inside a block exercise q8's scale raising
                        k[i] = (float) rng.nextGaussian() * (1 + (p % blockTokens) * 0.2f);
                        v[i] = (float) rng.nextGaussian();
                    }
                    paged.write(l, p, k, 0, v, 0);
                    plain.write(l, p, k, 0, v, 0);
                }
                float[] q = new float[headSize];
                for (int i = 0; i < headSize; i++) q[i] = (float) rng.nextGaussian() * 0.3f;
                float[] a = new float[headSize + 3], b = new float[headSize + 3];
                for (int l = 0; l < layers; l++) {
                    for (int h = 0; h < kvHeads; h++) {
                        paged.attend(l, h, p + 1, q, 0, 0.25f, a, 3, headSize);
                        plain.attend(l, h, p + 1, q, 0, 0.25f, b, 3, headSize);
                        for (int i = 3; i < headSize + 3; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
                        // the per-position path of the paged store agrees with its block kernel
                        float[] c = new float[headSize + 3];
                        PerPositionKv perPosition = new PerPositionKv() { // the paged bytes, decoded one element at a time
                            public int capacity() { return paged.capacity(); }
                            float keyDot(int l2, int p2, int h2, float[] q2, int qo) {
                                float dot = 0;
                                for (int d = 0; d < headSize; d++) dot += q2[qo + d] * element(memory, layout, table, l2, p2, h2, false, d);
                                return dot;
                            }
                            void addValue(int l2, int p2, int h2, float w, float[] o, int oo) {
                                for (int d = 0; d < headSize; d++) o[oo + d] += w * element(memory, layout, table, l2, p2, h2, true, d);
                            }
                        };
                        perPosition.attend(l, h, p + 1, q, 0, 0.25f, c, 3, headSize);
                        // up to 3 rows ending at this position, each with a group of 5 query heads sharing this kv head
                        // (one chunk of 4 heads and one of 1), padded strides
                        int g = 5, rows = Math.min(3, p + 1), first = p + 2 - rows, stride = g * headSize + 5;
                        float[] qg = new float[rows * stride + 2], og = new float[rows * stride + 1];
                        for (int i = 0; i < qg.length; i++) qg[i] = (float) rng.nextGaussian() * 0.3f;
                        paged.attendRows(l, h, first, rows, qg, 2, stride, g, 0.25f, og, 1, stride, headSize);
                        for (int r = 0; r < rows; r++) {
                            for (int head = 0; head < g; head++) {
                                float[] one = new float[headSize];
                                paged.attend(l, h, first + r, qg, 2 + r * stride + head * headSize, 0.25f, one, 0, headSize);
                                for (int i = 0; i < headSize; i++) {
                                    assertEquals(one[i], og[1 + r * stride + head * headSize + i], 1e-5f,
                                            "row " + r + " head " + head + " at position " + p);
                                }
                            }
                        }
                        for (int i = 3; i < headSize + 3; i++) {
                            assertEquals(c[i], a[i], 1e-4f, "block kernel vs per-position at position " + p);
                        }
                    }
                }
            }
            assertTrue(maxDiff <= tolerance(type), type + " bt " + blockTokens + " head " + headSize + ": max |paged - f32| = "
                    + maxDiff + " (vector kernel: " + KvKernels.vectorized(blockTokens) + ")");
            table.release();
            pool.checkInvariants();
            assertEquals(200, pool.available());
        }
    }
}
