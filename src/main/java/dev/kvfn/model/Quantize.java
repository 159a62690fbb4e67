package dev.kvfn.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Float to ggml storage formats. Q8_0 and Q4_0 are bit-compatible with ggml's reference quantizers
 * ({@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}). The other block types are valid encodings in
 * ggml's layouts (so llama.cpp reads them as kvfn does) made by a simple rule of this class's own, not
 * llama.cpp's error-minimizing search: each (sub-)block's scale is its range divided by the number of steps, the
 * stored scales are rounded up (never down), so no value is clipped, and each weight is rounded to its nearest
 * level. The error bound each type meets is on its encoder below (and tested in QuantizeTest).
 */
public final class Quantize {
    private Quantize() {}

    /** Encodes {@code src} (a whole number of blocks) as {@code type}, little-endian. */
    public static byte[] encode(float[] src, GgmlType type) {
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(type.bytesFor(src.length))).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case F32 -> { for (float v : src) out.putFloat(v); }
            case F16 -> { for (float v : src) out.putShort(Float.floatToFloat16(v)); }
            case BF16 -> { for (float v : src) out.putShort(toBf16(v)); }
            case Q8_0 -> q8_0(src, out);
            case Q4_0 -> q4_0(src, out);
            case Q4_1 -> q4_1(src, out);
            case Q5_0 -> q5_0(src, out);
            case Q5_1 -> q5_1(src, out);
            case IQ4_NL -> iq4_nl(src, out);
            case Q2_K -> q2_K(src, out);
            case Q3_K -> q3_K(src, out);
            case Q4_K -> qK(src, out, 15, false);
            case Q5_K -> qK(src, out, 31, true);
            case Q6_K -> q6_K(src, out);
            default -> throw new IllegalArgumentException("cannot write " + type);
        }
        return out.array();
    }

    /** Round-to-nearest-even bf16, as ggml's {@code ggml_compute_fp32_to_bf16}. */
    public static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 64); // quiet NaN
        return (short) ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16);
    }

    private static void q8_0(float[] src, ByteBuffer out) {
        for (int b = 0; b < src.length; b += 32) {
            float amax = 0f;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[b + j]));
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            out.putShort(Float.floatToFloat16(d));
            for (int j = 0; j < 32; j++) out.put((byte) roundHalfAway(src[b + j] * id));
        }
    }

    /** C's roundf: halves go away from zero (Math.round sends -2.5 to -2). */
    static int roundHalfAway(float v) {
        return v >= 0 ? (int) Math.floor(v + 0.5) : -(int) Math.floor(-v + 0.5);
    }

    private static void q4_0(float[] src, ByteBuffer out) {
        for (int b = 0; b < src.length; b += 32) {
            float amax = 0f, max = 0f;
            for (int j = 0; j < 32; j++) {
                float v = src[b + j];
                if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
            }
            float d = max / -8f;
            float id = d != 0f ? 1f / d : 0f;
            out.putShort(Float.floatToFloat16(d));
            for (int j = 0; j < 16; j++) {
                int lo = Math.min(15, (int) (src[b + j] * id + 8.5f));
                int hi = Math.min(15, (int) (src[b + 16 + j] * id + 8.5f));
                out.put((byte) (lo | (hi << 4)));
            }
        }
    }

    /**
     * Q4_1: d = (max - min) / 15, m = min; q = round((x - m) / d). Error at most d/2 plus the f16 rounding of d and m
     * (|x - x'| <= (max - min)/30 + 2^-10 (|min| + max - min)).
     */
    private static void q4_1(float[] src, ByteBuffer out) {
        for (int b = 0; b < src.length; b += 32) {
            float[] mm = minMax(src, b, 32);
            short dh = Float.floatToFloat16((mm[1] - mm[0]) / 15f), mh = Float.floatToFloat16(mm[0]);
            float d = Float.float16ToFloat(dh), m = Float.float16ToFloat(mh);
            out.putShort(dh).putShort(mh);
            for (int j = 0; j < 16; j++) {
                int lo = level(src[b + j] - m, d, 0, 15), hi = level(src[b + 16 + j] - m, d, 0, 15);
                out.put((byte) (lo | hi << 4));
            }
        }
    }

    /** Q5_1: as Q4_1 with 31 steps (|x - x'| <= (max - min)/62 + 2^-10 (|min| + max - min)). */
    private static void q5_1(float[] src, ByteBuffer out) {
        for (int b = 0; b < src.length; b += 32) {
            float[] mm = minMax(src, b, 32);
            short dh = Float.floatToFloat16((mm[1] - mm[0]) / 31f), mh = Float.floatToFloat16(mm[0]);
            float d = Float.float16ToFloat(dh), m = Float.float16ToFloat(mh);
            int[] q = new int[32];
            for (int j = 0; j < 32; j++) q[j] = level(src[b + j] - m, d, 0, 31);
            out.putShort(dh).putShort(mh);
            put5Bit(q, out);
        }
    }

    /**
     * Q5_0: as ggml's reference, d = (the value of largest magnitude) / -16, q = x/d + 16 rounded into [0, 31]. The
     * extreme maps to level 0 exactly; a value of the other sign and nearly the same magnitude is clipped to level 31,
     * so |x - x'| <= |d| = amax/16 (+ 2^-10 amax for the f16 rounding of d), d/2 for values that are not clipped.
     */
    private static void q5_0(float[] src, ByteBuffer out) {
        for (int b = 0; b < src.length; b += 32) {
            float max = extreme(src, b, 32);
            short dh = Float.floatToFloat16(max / -16f);
            float d = Float.float16ToFloat(dh);
            int[] q = new int[32];
            for (int j = 0; j < 32; j++) q[j] = d == 0f ? 16 : Math.clamp(roundHalfAway(src[b + j] / d) + 16, 0, 31);
            out.putShort(dh);
            put5Bit(q, out);
        }
    }

    /** 5-bit levels: their bit 4 packed into a u32 (weight j at bit j), then their low nibbles as Q4_0. */
    private static void put5Bit(int[] q, ByteBuffer out) {
        int h = 0;
        for (int j = 0; j < 32; j++) h |= (q[j] >>> 4) << j;
        out.putInt(h);
        for (int j = 0; j < 16; j++) out.put((byte) ((q[j] & 15) | (q[16 + j] & 15) << 4));
    }

    /**
     * IQ4_NL: d = (the value of largest magnitude) / -127 so that value maps to the first level exactly; every other
     * weight takes its nearest level. The widest gap between levels is 24 and the top level is 113, not 127, so
     * |x - x'| <= 14 |d| = 14 amax/127 (+ 2^-10 amax for the f16 rounding of d).
     */
    private static void iq4_nl(float[] src, ByteBuffer out) {
        byte[] levels = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
        for (int b = 0; b < src.length; b += 32) {
            short dh = Float.floatToFloat16(extreme(src, b, 32) / -127f);
            float d = Float.float16ToFloat(dh);
            out.putShort(dh);
            int[] q = new int[32];
            for (int j = 0; j < 32; j++) {
                int best = 0;
                float bestErr = Float.POSITIVE_INFINITY;
                for (int k = 0; k < 16; k++) {
                    float err = Math.abs(src[b + j] - d * levels[k]);
                    if (err < bestErr) { bestErr = err; best = k; }
                }
                q[j] = best;
            }
            for (int j = 0; j < 16; j++) out.put((byte) (q[j] | q[16 + j] << 4));
        }
    }

    /**
     * Q4_K (steps 15) and Q5_K (31): per 256 weights an f16 d and dmin, per sub-block s of 32 a 6-bit scale sc and
     * min m, weight = d*sc*q - dmin*m. Mins first: m_s = ceil(-min(min_s, 0) / dmin), dmin = max(-min_s)/63 rounded
     * up to f16; then scale_s = (max_s + dmin*m_s) / steps, sc_s = ceil(scale_s / d), d = max(scale_s)/63 rounded up.
     * Rounding both up means no level is clipped, so |x - x'| <= d*sc_s/2, which is at most
     * (R + R/63) / (2 steps) + d/2 with R the super-block's largest sub-block range (max_s - min(min_s, 0)):
     * under 1.05 R / (2 steps) while d and dmin are normal f16 values (weights of magnitude above ~1e-2).
     */
    private static void qK(float[] src, ByteBuffer out, int steps, boolean fifthBit) {
        float[] scale = new float[8];
        int[] mins = new int[8], scales = new int[8];
        int[] q = new int[256];
        for (int b = 0; b < src.length; b += 256) {
            float maxNeg = 0f;
            float[][] mm = new float[8][];
            for (int s = 0; s < 8; s++) {
                mm[s] = minMax(src, b + 32 * s, 32);
                maxNeg = Math.max(maxNeg, -Math.min(mm[s][0], 0f));
            }
            short dminH = f16Up(maxNeg / 63f);
            float dmin = Float.float16ToFloat(dminH);
            float maxScale = 0f;
            for (int s = 0; s < 8; s++) {
                mins[s] = dmin == 0f ? 0 : Math.min(63, (int) Math.ceil(-Math.min(mm[s][0], 0f) / dmin));
                scale[s] = Math.max(0f, (mm[s][1] + dmin * mins[s]) / steps);
                maxScale = Math.max(maxScale, scale[s]);
            }
            short dH = f16Up(maxScale / 63f);
            float d = Float.float16ToFloat(dH);
            for (int s = 0; s < 8; s++) {
                scales[s] = d == 0f ? 0 : Math.min(63, (int) Math.ceil(scale[s] / d));
                float ds = d * scales[s], dm = dmin * mins[s];
                for (int l = 0; l < 32; l++) q[32 * s + l] = level(src[b + 32 * s + l] + dm, ds, 0, steps);
            }
            out.putShort(dH).putShort(dminH);
            // 6-bit (scale, min) pairs: sub-blocks 0-3 in the low 6 bits of bytes s and s+4, 4-7 split into nibbles of
            // byte s+4 and the top 2 bits of bytes s-4 and s (ggml's get_scale_min_k4, inverted)
            byte[] packed = new byte[12];
            for (int s = 0; s < 4; s++) {
                packed[s] = (byte) (scales[s] | (scales[s + 4] >>> 4) << 6);
                packed[s + 4] = (byte) (mins[s] | (mins[s + 4] >>> 4) << 6);
                packed[s + 8] = (byte) ((scales[s + 4] & 15) | (mins[s + 4] & 15) << 4);
            }
            out.put(packed);
            if (fifthBit) {
                for (int l = 0; l < 32; l++) {
                    int h = 0;
                    for (int s = 0; s < 8; s++) h |= (q[32 * s + l] >>> 4) << s;
                    out.put((byte) h);
                }
            }
            for (int g = 0; g < 4; g++) {
                for (int l = 0; l < 32; l++) out.put((byte) ((q[64 * g + l] & 15) | (q[64 * g + 32 + l] & 15) << 4));
            }
        }
    }

    /**
     * Q6_K: per 256 weights an f16 d, per 16 an int8 scale sc, weight = d*sc*(q-32). Symmetric: scale_s = amax_s/31,
     * sc_s = ceil(scale_s/d) with d = max(scale_s)/127 rounded up to f16, q - 32 = round(x / (d sc_s)) in [-31, 31].
     * |x - x'| <= d*sc_s/2 <= (A/31 + A/(31*127)) / 2 (+ f16 rounding), A the super-block's largest |x|: under 1.02 A/62.
     */
    private static void q6_K(float[] src, ByteBuffer out) {
        float[] scale = new float[16];
        int[] sc = new int[16];
        int[] q = new int[256];
        for (int b = 0; b < src.length; b += 256) {
            float maxScale = 0f;
            for (int s = 0; s < 16; s++) {
                float amax = 0f;
                for (int l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(src[b + 16 * s + l]));
                scale[s] = amax / 31f;
                maxScale = Math.max(maxScale, scale[s]);
            }
            short dH = f16Up(maxScale / 127f);
            float d = Float.float16ToFloat(dH);
            for (int s = 0; s < 16; s++) {
                sc[s] = d == 0f ? 0 : Math.min(127, (int) Math.ceil(scale[s] / d));
                float ds = d * sc[s];
                for (int l = 0; l < 16; l++) {
                    q[16 * s + l] = ds == 0f ? 32 : Math.clamp(roundHalfAway(src[b + 16 * s + l] / ds), -32, 31) + 32;
                }
            }
            for (int half = 0; half < 2; half++) { // ql: 64 bytes per half
                int o = 128 * half;
                for (int l = 0; l < 32; l++) out.put((byte) ((q[o + l] & 15) | (q[o + 64 + l] & 15) << 4));
                for (int l = 0; l < 32; l++) out.put((byte) ((q[o + 32 + l] & 15) | (q[o + 96 + l] & 15) << 4));
            }
            for (int half = 0; half < 2; half++) { // qh: 32 bytes per half, 2 bits of each of the 4 quarters
                int o = 128 * half;
                for (int l = 0; l < 32; l++) {
                    out.put((byte) ((q[o + l] >>> 4) | (q[o + 32 + l] >>> 4) << 2 | (q[o + 64 + l] >>> 4) << 4 | (q[o + 96 + l] >>> 4) << 6));
                }
            }
            for (int s = 0; s < 16; s++) out.put((byte) sc[s]);
            out.putShort(dH);
        }
    }

    /**
     * Q2_K: per 256 weights an f16 d and dmin, per sub-block s of 16 a 4-bit scale sc and min m, weight = d*sc*q - dmin*m
     * with q in 0..3. The rule of Q4_K with 3 steps and 4-bit scales: m_s = ceil(-min(min_s, 0) / dmin), dmin =
     * max(-min_s)/15 rounded up to f16; scale_s = (max_s + dmin*m_s) / 3, sc_s = ceil(scale_s / d), d = max(scale_s)/15
     * rounded up. Nothing is clipped, so |x - x'| <= d*sc_s/2 <= (R + dmin)/6 + d/2, under 0.19 R with R the
     * super-block's largest sub-block range (max_s - min(min_s, 0)), while d and dmin are normal f16 values.
     */
    private static void q2_K(float[] src, ByteBuffer out) {
        float[] scale = new float[16];
        int[] mins = new int[16], scales = new int[16];
        int[] q = new int[256];
        for (int b = 0; b < src.length; b += 256) {
            float maxNeg = 0f;
            float[][] mm = new float[16][];
            for (int s = 0; s < 16; s++) {
                mm[s] = minMax(src, b + 16 * s, 16);
                maxNeg = Math.max(maxNeg, -Math.min(mm[s][0], 0f));
            }
            short dminH = f16Up(maxNeg / 15f);
            float dmin = Float.float16ToFloat(dminH);
            float maxScale = 0f;
            for (int s = 0; s < 16; s++) {
                mins[s] = dmin == 0f ? 0 : Math.min(15, (int) Math.ceil(-Math.min(mm[s][0], 0f) / dmin));
                scale[s] = Math.max(0f, (mm[s][1] + dmin * mins[s]) / 3);
                maxScale = Math.max(maxScale, scale[s]);
            }
            short dH = f16Up(maxScale / 15f);
            float d = Float.float16ToFloat(dH);
            for (int s = 0; s < 16; s++) {
                scales[s] = d == 0f ? 0 : Math.min(15, (int) Math.ceil(scale[s] / d));
                float ds = d * scales[s], dm = dmin * mins[s];
                for (int l = 0; l < 16; l++) q[16 * s + l] = level(src[b + 16 * s + l] + dm, ds, 0, 3);
            }
            for (int s = 0; s < 16; s++) out.put((byte) (scales[s] | mins[s] << 4));
            put2Bit(q, out);
            out.putShort(dH).putShort(dminH);
        }
    }

    /**
     * Q3_K: per 256 weights an f16 d, per sub-block of 16 a 6-bit scale sc (stored plus 32), weight = d*sc*(q-4) with
     * q - 4 in [-4, 3]. Symmetric, as Q6_K: scale_s = amax_s/3, sc_s = ceil(scale_s/d) with d = max(scale_s)/31 rounded
     * up to f16, q - 4 = round(x / (d sc_s)), which stays in [-3, 3]. |x - x'| <= d*sc_s/2 <= (A/3 + A/93)/2 (+ f16
     * rounding), A the super-block's largest |x|: under 1.04 A/6.
     */
    private static void q3_K(float[] src, ByteBuffer out) {
        float[] scale = new float[16];
        int[] sc = new int[16];
        int[] q = new int[256];
        for (int b = 0; b < src.length; b += 256) {
            float maxScale = 0f;
            for (int s = 0; s < 16; s++) {
                float amax = 0f;
                for (int l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(src[b + 16 * s + l]));
                scale[s] = amax / 3f;
                maxScale = Math.max(maxScale, scale[s]);
            }
            short dH = f16Up(maxScale / 31f);
            float d = Float.float16ToFloat(dH);
            for (int s = 0; s < 16; s++) {
                sc[s] = d == 0f ? 0 : Math.min(31, (int) Math.ceil(scale[s] / d));
                float ds = d * sc[s];
                for (int l = 0; l < 16; l++) {
                    q[16 * s + l] = ds == 0f ? 4 : Math.clamp(roundHalfAway(src[b + 16 * s + l] / ds), -4, 3) + 4;
                }
            }
            for (int l = 0; l < 32; l++) { // hmask: the third bit of weight 128h + 32j + l is bit 4h + j of byte l
                int h = 0;
                for (int g = 0; g < 8; g++) h |= (q[32 * g + l] >>> 2) << g;
                out.put((byte) h);
            }
            put2Bit(q, out);
            // 6-bit scales u = sc + 32: low nibbles of 0-7 and 8-15 share bytes 0-7, top 2 bits of s in byte 8 + s%4 at 2(s/4)
            int[] u = new int[16];
            for (int s = 0; s < 16; s++) u[s] = sc[s] + 32;
            for (int k = 0; k < 8; k++) out.put((byte) ((u[k] & 15) | (u[k + 8] & 15) << 4));
            for (int k = 0; k < 4; k++) {
                int v = 0;
                for (int g = 0; g < 4; g++) v |= (u[4 * g + k] >>> 4) << 2 * g;
                out.put((byte) v);
            }
            out.putShort(dH);
        }
    }

    /** The low 2 bits of 256 levels as Q2_K / Q3_K keep them: weight 128h + 32j + l at bits 2j of byte 32h + l. */
    private static void put2Bit(int[] q, ByteBuffer out) {
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
                int v = 0;
                for (int j = 0; j < 4; j++) v |= (q[128 * half + 32 * j + l] & 3) << 2 * j;
                out.put((byte) v);
            }
        }
    }

    /** The nearest level {@code round(v / d)} in {@code [lo, hi]}; {@code lo} when d is 0. */
    private static int level(float v, float d, int lo, int hi) {
        return d == 0f ? lo : Math.clamp(roundHalfAway(v / d), lo, hi);
    }

    /** {min, max} of {@code src[from .. from+n)}. */
    private static float[] minMax(float[] src, int from, int n) {
        float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            min = Math.min(min, src[from + j]);
            max = Math.max(max, src[from + j]);
        }
        return new float[] {min, max};
    }

    /** The value of largest magnitude in {@code src[from .. from+n)}, with its sign (the first one on ties). */
    private static float extreme(float[] src, int from, int n) {
        float amax = 0f, max = 0f;
        for (int j = 0; j < n; j++) {
            float v = src[from + j];
            if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
        }
        return max;
    }

    /** The smallest f16 at or above {@code v >= 0}: a stored scale that is never smaller than the one computed. */
    private static short f16Up(float v) {
        short h = Float.floatToFloat16(v);
        if (Float.float16ToFloat(h) < v) h++;
        return h;
    }
}
