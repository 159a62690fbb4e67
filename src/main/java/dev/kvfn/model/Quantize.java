package dev.kvfn.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Float to ggml storage formats, bit-compatible with ggml's reference quantizers
 * ({@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}), so files written here load in llama.cpp.
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
}
