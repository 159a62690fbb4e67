package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Plain-Java reference kernels for every supported type: the fallback when the Vector API module
 * is absent and the yardstick the vector kernels are tested against. The types added after Q4_0
 * (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) are decoded one block at a time by
 * {@link #decodeBlock}, which spells out each ggml block layout.
 */
final class ScalarMatrix implements Matrix {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;
    /** IQ4_NL's 16 non-uniform levels ({@code kvalues_iq4nl} in ggml), indexed by the 4-bit code. */
    static final byte[] IQ4_NL_LEVELS = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    private final GgmlType type;
    private final MemorySegment data;
    private final int rows;
    private final int cols;
    private final long rowBytes;
    private final WorkerPool pool;
    private final Call call = new Call(this);
    private final AtomicBoolean callInUse = new AtomicBoolean();

    ScalarMatrix(Tensor t, WorkerPool pool) {
        this.type = t.type();
        this.data = t.data();
        this.rows = t.rows();
        this.cols = t.cols();
        this.rowBytes = t.type().bytesFor(cols);
        this.pool = pool;
    }

    @Override public int rows() { return rows; }
    @Override public int cols() { return cols; }

    @Override
    public void multiply(float[] x, float[] out, int batch) {
        Matrices.checkMultiply(this, x, out, batch);
        boolean own = callInUse.compareAndSet(false, true);
        Call c = own ? call : new Call(this);
        c.x = x;
        c.out = out;
        c.batch = batch;
        try {
            pool.forRange(rows, c);
        } finally {
            c.x = null;
            c.out = null;
            if (own) callInUse.set(false);
        }
    }

    /** One decoded block per worker thread, reused: no allocation per multiply. */
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[256]);

    /**
     * The arguments of one multiply, handed to the pool without allocating a lambda (as in
     * {@code VectorMatrix}); a request thread that multiplies while another uses this matrix gets its own.
     */
    private static final class Call implements WorkerPool.RangeTask {
        final ScalarMatrix m;
        float[] x;
        float[] out;
        int batch;

        Call(ScalarMatrix m) {
            this.m = m;
        }

        @Override
        public void run(int from, int to) {
            float[] block = m.decodedBlockTypes() ? BLOCK.get() : null;
            if (block != null && block.length < m.type.blockSize()) BLOCK.set(block = new float[m.type.blockSize()]);
            float[] xs = x, o = out;
            int rows = m.rows, cols = m.cols;
            for (int r = from; r < to; r++) {
                long base = r * m.rowBytes;
                for (int b = 0; b < batch; b++) {
                    o[b * rows + r] = block != null ? m.decodedDot(base, xs, b * cols, block) : m.dot(base, xs, b * cols);
                }
            }
        }
    }

    @Override
    public void row(int r, float[] dst, int offset) {
        Matrices.checkRow(this, r, dst, offset);
        long base = r * rowBytes;
        if (decodedBlockTypes()) {
            for (int c = 0; c < cols; c += type.blockSize(), base += type.bytesPerBlock()) decodeBlock(type, data, base, dst, offset + c);
            return;
        }
        for (int c = 0; c < cols; c++) dst[offset + c] = get(base, c);
    }

    /** Whether this type goes through {@link #decodeBlock} rather than the per-type loops below. */
    private boolean decodedBlockTypes() {
        return switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0 -> false;
            default -> true;
        };
    }

    /** Row at byte {@code base} times {@code x[xo ..]}, one decoded block at a time through {@code block}. */
    private float decodedDot(long base, float[] x, int xo, float[] block) {
        int n = type.blockSize(), bytes = type.bytesPerBlock();
        float sum = 0f;
        for (int c = 0; c < cols; c += n, base += bytes) {
            decodeBlock(type, data, base, block, 0);
            float s = 0f;
            for (int j = 0; j < n; j++) s += block[j] * x[xo + c + j];
            sum += s;
        }
        return sum;
    }

    private static float f16(MemorySegment d, long at) {
        return Float.float16ToFloat(d.get(I16, at));
    }

    private static int u8(MemorySegment d, long at) {
        return d.get(I8, at) & 0xff;
    }

    /**
     * Decodes the block of {@code type} at byte {@code q} into {@code dst[off .. off+blockSize)}, following
     * ggml's layouts (all little-endian; "f16" an IEEE half):
     * <ul>
     * <li>Q4_1 (32 weights, 20 bytes): f16 d, f16 m, 16 bytes; weight j is {@code d*q + m}, q the low nibble of byte j for j < 16,
     *     the high nibble of byte j-16 otherwise.
     * <li>Q5_0 (32, 22): f16 d, u32 qh, 16 bytes; q as Q4_1 plus bit j of qh as bit 4; weight {@code d*(q-16)}.
     * <li>Q5_1 (32, 24): f16 d, f16 m, u32 qh, 16 bytes; weight {@code d*q + m}.
     * <li>IQ4_NL (32, 18): f16 d, 16 bytes of nibbles as Q4_0; weight {@code d*LEVELS[q]}.
     * <li>Q2_K (256, 84): 16 bytes of scales, 64 bytes qs, f16 d, f16 dmin. Weight i = 128h + 32j + l (half h, l < 32) is
     *     bits 2j..2j+1 of qs[32h + l]; it belongs to sub-block s = i / 16, whose byte scales[s] holds a 4-bit scale (low
     *     nibble) and a 4-bit min (high nibble); weight {@code d*scale*q - dmin*min}.
     * <li>Q3_K (256, 110): 32 bytes hmask, 64 bytes qs, 12 bytes of 6-bit scales, f16 d. Weight i = 128h + 32j + l has its
     *     low 2 bits in qs as Q2_K and its third bit in bit 4h + j of hmask[l]; weight {@code d*(sc-32)*(q-4)} with sc the
     *     6-bit scale of sub-block i / 16 from {@link #scaleK3}.
     * <li>Q4_K (256, 144): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32, 128 bytes; weights
     *     64g..64g+31 are the low nibbles of bytes 32g..32g+31 (sub-block 2g), 64g+32.. their high nibbles (2g+1); weight
     *     {@code d*sc*q - dmin*m} with (sc, m) of the sub-block from {@link #scaleMinK4}.
     * <li>Q5_K (256, 176): as Q4_K, then 32 bytes qh before the 128 nibble bytes: bit s of qh[l] is bit 4 of weight l of sub-block s.
     * <li>Q6_K (256, 210): 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d. Per half h (128 weights): l < 32, with
     *     ql' = ql + 64h, qh' = qh + 32h: weight l = low nibble of ql'[l] | bits 0-1 of qh'[l] << 4, weight l+32 = low nibble of
     *     ql'[l+32] | bits 2-3, l+64 = high nibble of ql'[l] | bits 4-5, l+96 = high nibble of ql'[l+32] | bits 6-7; each minus 32,
     *     times d and the scale of its 16 weights (scale 8h + (index within the half) / 16).
     * </ul>
     */
    static void decodeBlock(GgmlType type, MemorySegment d, long q, float[] dst, int off) {
        switch (type) {
            case Q4_1 -> {
                float scale = f16(d, q), min = f16(d, q + 2);
                for (int j = 0; j < 16; j++) {
                    int b = u8(d, q + 4 + j);
                    dst[off + j] = scale * (b & 15) + min;
                    dst[off + 16 + j] = scale * (b >>> 4) + min;
                }
            }
            case Q5_0, Q5_1 -> {
                boolean q51 = type == GgmlType.Q5_1;
                float scale = f16(d, q), min = q51 ? f16(d, q + 2) : 0f;
                int h = d.get(I32, q + (q51 ? 4 : 2));
                long qs = q + (q51 ? 8 : 6);
                for (int j = 0; j < 16; j++) {
                    int b = u8(d, qs + j);
                    int lo = (b & 15) | ((h >>> j) & 1) << 4, hi = (b >>> 4) | ((h >>> (j + 16)) & 1) << 4;
                    if (q51) {
                        dst[off + j] = scale * lo + min;
                        dst[off + 16 + j] = scale * hi + min;
                    } else {
                        dst[off + j] = scale * (lo - 16);
                        dst[off + 16 + j] = scale * (hi - 16);
                    }
                }
            }
            case IQ4_NL -> {
                float scale = f16(d, q);
                for (int j = 0; j < 16; j++) {
                    int b = u8(d, q + 2 + j);
                    dst[off + j] = scale * IQ4_NL_LEVELS[b & 15];
                    dst[off + 16 + j] = scale * IQ4_NL_LEVELS[b >>> 4];
                }
            }
            case Q2_K -> {
                float scale = f16(d, q + 80), dmin = f16(d, q + 82);
                for (int half = 0; half < 2; half++) {
                    long qs = q + 16 + 32L * half;
                    for (int j = 0; j < 4; j++) {
                        int o = off + 128 * half + 32 * j;
                        for (int l = 0; l < 32; l++) {
                            int sm = u8(d, q + (o - off + l) / 16);
                            dst[o + l] = scale * (sm & 15) * ((u8(d, qs + l) >>> 2 * j) & 3) - dmin * (sm >>> 4);
                        }
                    }
                }
            }
            case Q3_K -> {
                float scale = f16(d, q + 108);
                for (int half = 0; half < 2; half++) {
                    long qs = q + 32 + 32L * half;
                    for (int j = 0; j < 4; j++) {
                        int o = off + 128 * half + 32 * j, bit = 4 * half + j;
                        for (int l = 0; l < 32; l++) {
                            int v = ((u8(d, qs + l) >>> 2 * j) & 3) | ((u8(d, q + l) >>> bit) & 1) << 2;
                            dst[o + l] = scale * (scaleK3(d, q + 96, (o - off + l) / 16) - 32) * (v - 4);
                        }
                    }
                }
            }
            case Q4_K, Q5_K -> {
                boolean q5 = type == GgmlType.Q5_K;
                float scale = f16(d, q), dmin = f16(d, q + 2);
                long qh = q + 16, qs = q + (q5 ? 48 : 16);
                for (int s = 0; s < 8; s++) {
                    int sm = scaleMinK4(d, q + 4, s);
                    float ds = scale * (sm & 0xff), dm = dmin * (sm >>> 8);
                    int shift = (s & 1) * 4;
                    long bytes = qs + 32L * (s >> 1);
                    for (int l = 0; l < 32; l++) {
                        int v = (u8(d, bytes + l) >>> shift) & 15;
                        if (q5) v |= ((u8(d, qh + l) >>> s) & 1) << 4;
                        dst[off + 32 * s + l] = ds * v - dm;
                    }
                }
            }
            case Q6_K -> {
                float scale = f16(d, q + 208);
                for (int half = 0; half < 2; half++) {
                    long ql = q + 64L * half, qh = q + 128 + 32L * half, sc = q + 192 + 8L * half;
                    int o = off + 128 * half;
                    for (int l = 0; l < 32; l++) {
                        int a = u8(d, ql + l), b = u8(d, ql + 32 + l), h = u8(d, qh + l);
                        int is = l / 16;
                        dst[o + l] = scale * d.get(I8, sc + is) * (((a & 15) | (h & 3) << 4) - 32);
                        dst[o + 32 + l] = scale * d.get(I8, sc + is + 2) * (((b & 15) | ((h >>> 2) & 3) << 4) - 32);
                        dst[o + 64 + l] = scale * d.get(I8, sc + is + 4) * (((a >>> 4) | ((h >>> 4) & 3) << 4) - 32);
                        dst[o + 96 + l] = scale * d.get(I8, sc + is + 6) * (((b >>> 4) | ((h >>> 6) & 3) << 4) - 32);
                    }
                }
            }
            default -> throw new IllegalStateException("no block decoder for " + type);
        }
    }

    /**
     * Q4_K / Q5_K sub-block {@code s} (0-7): its 6-bit scale (low byte of the result) and 6-bit min (second byte),
     * from the 12 bytes at {@code p}: sub-blocks 0-3 keep scale and min in the low 6 bits of bytes s and s+4;
     * sub-blocks 4-7 take their low 4 bits from the nibbles of byte s+4 (scale low, min high) and their top 2 bits
     * from the top 2 bits of bytes s-4 (scale) and s (min). ggml calls this {@code get_scale_min_k4}.
     */
    static int scaleMinK4(MemorySegment d, long p, int s) {
        int sc, m;
        if (s < 4) {
            sc = u8(d, p + s) & 63;
            m = u8(d, p + s + 4) & 63;
        } else {
            int b = u8(d, p + s + 4);
            sc = (b & 15) | (u8(d, p + s - 4) >>> 6) << 4;
            m = (b >>> 4) | (u8(d, p + s) >>> 6) << 4;
        }
        return sc | m << 8;
    }

    /**
     * Q3_K sub-block {@code s} (0-15): its 6-bit scale, stored plus 32 (so 0-63), from the 12 bytes at {@code p}: the low
     * 4 bits are the low nibble of byte s for s < 8, the high nibble of byte s-8 otherwise; the top 2 bits are bits
     * 2(s/4)..2(s/4)+1 of byte 8 + s%4. ggml unpacks the same bits with 32-bit masks ({@code kmask1}, {@code kmask2}).
     */
    static int scaleK3(MemorySegment d, long p, int s) {
        int low = s < 8 ? u8(d, p + s) & 15 : u8(d, p + s - 8) >>> 4;
        return low | ((u8(d, p + 8 + (s & 3)) >>> 2 * (s >> 2)) & 3) << 4;
    }

    /** One switch per row, then a plain loop per type (a switch per element costs ~3x). */
    private float dot(long base, float[] x, int xo) {
        float sum = 0f;
        switch (type) {
            case F32 -> { for (int c = 0; c < cols; c++) sum += data.get(F32, base + 4L * c) * x[xo + c]; }
            case F16 -> { for (int c = 0; c < cols; c++) sum += Float.float16ToFloat(data.get(I16, base + 2L * c)) * x[xo + c]; }
            case BF16 -> { for (int c = 0; c < cols; c++) sum += Float.intBitsToFloat(data.get(I16, base + 2L * c) << 16) * x[xo + c]; }
            case Q8_0 -> {
                for (int c = 0; c < cols; c += 32, base += 34) {
                    float block = 0f;
                    for (int j = 0; j < 32; j++) block += data.get(ValueLayout.JAVA_BYTE, base + 2 + j) * x[xo + c + j];
                    sum += block * Float.float16ToFloat(data.get(I16, base));
                }
            }
            case Q4_0 -> {
                for (int c = 0; c < cols; c += 32, base += 18) {
                    float block = 0f;
                    for (int j = 0; j < 16; j++) {
                        int packed = data.get(ValueLayout.JAVA_BYTE, base + 2 + j) & 0xff;
                        block += ((packed & 0x0f) - 8) * x[xo + c + j] + ((packed >>> 4) - 8) * x[xo + c + 16 + j];
                    }
                    sum += block * Float.float16ToFloat(data.get(I16, base));
                }
            }
            default -> throw new IllegalStateException("unsupported " + type);
        }
        return sum;
    }

    /** Element {@code c} of the row starting at byte {@code base}. */
    private float get(long base, int c) {
        return switch (type) {
            case F32 -> data.get(F32, base + 4L * c);
            case F16 -> Float.float16ToFloat(data.get(I16, base + 2L * c));
            case BF16 -> Float.intBitsToFloat(data.get(I16, base + 2L * c) << 16);
            case Q8_0 -> {
                long block = base + (c / 32) * 34L;
                float d = Float.float16ToFloat(data.get(I16, block));
                yield d * data.get(ValueLayout.JAVA_BYTE, block + 2 + (c % 32));
            }
            case Q4_0 -> {
                long block = base + (c / 32) * 18L;
                float d = Float.float16ToFloat(data.get(I16, block));
                int j = c % 32;
                int packed = data.get(ValueLayout.JAVA_BYTE, block + 2 + (j & 15)) & 0xff;
                int q = j < 16 ? packed & 0x0f : packed >>> 4;
                yield d * (q - 8);
            }
            default -> throw new IllegalStateException("unsupported " + type);
        };
    }
}
