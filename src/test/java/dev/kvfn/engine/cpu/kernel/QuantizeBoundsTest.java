package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Quantize;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * dequantize(quantize(x)) stays within the bound {@link Quantize} states for each type, per block, over gaussian
 * weights at several magnitudes and the blocks that break naive encoders: all zeros, a constant, all positive, all
 * negative, one outlier, alternating signs of equal magnitude. Decoding goes through the test's own layout decoder
 * ({@link MatrixKernelTest#dequantize}), so a layout mistake the encoder and the kernels share still fails here.
 */
class QuantizeBoundsTest {

    static Stream<GgmlType> types() {
        return Stream.of(GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K,
                GgmlType.Q5_K, GgmlType.Q6_K);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("types")
    void roundTripWithinTheStatedBound(GgmlType type) {
        Random rnd = new Random(5 + type.ordinal());
        int n = 256 * 12;
        for (float magnitude : new float[] {0.05f, 1f, 30f}) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian() * magnitude;
            // super-blocks 1.. : the awkward cases, each over a whole 256 (and so over every 32 inside it)
            Arrays.fill(x, 256, 512, 0f);
            Arrays.fill(x, 512, 768, 0.75f * magnitude);
            for (int i = 768; i < 1024; i++) x[i] = Math.abs(x[i]) + magnitude;
            for (int i = 1024; i < 1280; i++) x[i] = -Math.abs(x[i]) - magnitude;
            x[1280 + 77] = 40 * magnitude;
            for (int i = 1536; i < 1792; i++) x[i] = (i % 2 == 0 ? 1 : -1) * magnitude;
            check(type, x);
        }
    }

    private static void check(GgmlType type, float[] x) {
        double[] y = MatrixKernelTest.dequantize(Quantize.encode(x, type), type, x.length);
        int block = type.blockSize();
        for (int b = 0; b < x.length; b += block) {
            double bound = bound(type, x, b);
            for (int i = b; i < b + block; i++) {
                int at = i;
                assertTrue(Math.abs(x[i] - y[i]) <= bound,
                        () -> type + " weight " + at + ": " + x[at] + " came back as " + y[at] + ", bound " + bound);
            }
        }
    }

    /** The bound Quantize documents for the block of {@code type} starting at {@code b}. */
    private static double bound(GgmlType type, float[] x, int b) {
        double amax = 0, min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (int i = b; i < b + type.blockSize(); i++) {
            amax = Math.max(amax, Math.abs(x[i]));
            min = Math.min(min, x[i]);
            max = Math.max(max, x[i]);
        }
        double f16 = 0x1p-10;
        double eps = 1e-6 * amax; // float arithmetic in the encoder and decoder
        return switch (type) {
            case Q4_1 -> (max - min) / 30 + f16 * (Math.abs(min) + max - min) + eps;
            case Q5_1 -> (max - min) / 62 + f16 * (Math.abs(min) + max - min) + eps;
            case Q5_0 -> amax / 16 + f16 * amax + eps;
            case IQ4_NL -> 14 * amax / 127 + f16 * amax + eps;
            case Q4_K, Q5_K -> 1.05 * subBlockRange(x, b, 32) / (2 * (type == GgmlType.Q4_K ? 15 : 31)) + eps;
            case Q2_K -> 0.19 * subBlockRange(x, b, 16) + eps;
            case Q6_K -> 1.02 * amax / 62 + eps;
            case Q3_K -> 1.04 * amax / 6 + eps;
            default -> throw new IllegalArgumentException(type.toString());
        };
    }

    /** The super-block's largest sub-block range, max_s - min(min_s, 0), over sub-blocks of {@code sub} weights. */
    private static double subBlockRange(float[] x, int b, int sub) {
        double r = 0;
        for (int s = b; s < b + 256; s += sub) {
            double smin = 0, smax = Double.NEGATIVE_INFINITY;
            for (int i = s; i < s + sub; i++) {
                smin = Math.min(smin, x[i]);
                smax = Math.max(smax, x[i]);
            }
            r = Math.max(r, smax - smin);
        }
        return r;
    }

    @Test
    void zerosStayZero() {
        for (GgmlType type : types().toList()) {
            double[] y = MatrixKernelTest.dequantize(Quantize.encode(new float[512], type), type, 512);
            for (double v : y) assertTrue(v == 0, type + ": " + v); // -0.0 allowed: ggml writes d = -0 for Q4_0 too
        }
    }

    @Test
    void kQuantBoundIsTight() {
        // The stated bound is not loose to the point of meaning nothing: uniform weights use most of it.
        Random rnd = new Random(3);
        float[] x = new float[256 * 64];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat() * 2 - 1;
        double worst = 0;
        double[] y = MatrixKernelTest.dequantize(Quantize.encode(x, GgmlType.Q4_K), GgmlType.Q4_K, x.length);
        for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
        assertTrue(worst > 0.8 * 2.0 / 30 && worst <= 1.05 * 2.0 / 30, "worst Q4_K error " + worst + " for range 2");
        // Q2_K: 4 levels over a range of 2, a step of about 2/3 (the 4-bit scales round it up)
        worst = worstError(x, GgmlType.Q2_K);
        assertTrue(worst > 0.8 * 2.0 / 6 && worst <= 0.19 * 2.0, "worst Q2_K error " + worst + " for range 2");
        // Q3_K: 7 levels over [-1, 1], a step of about 1/3
        worst = worstError(x, GgmlType.Q3_K);
        assertTrue(worst > 0.8 / 6 && worst <= 1.04 / 6, "worst Q3_K error " + worst + " for amax 1");
    }

    private static double worstError(float[] x, GgmlType type) {
        double[] y = MatrixKernelTest.dequantize(Quantize.encode(x, type), type, x.length);
        double worst = 0;
        for (int i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
        return worst;
    }
}
