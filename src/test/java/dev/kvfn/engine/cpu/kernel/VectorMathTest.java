package dev.kvfn.engine.cpu.kernel;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The public (vectorized where possible) and scalar bodies against float64 sums, with offsets and odd lengths. */
class VectorMathTest {

    @Test
    void dotAxpyAndSumOfSquaresMatchFloat64() {
        Random rnd = new Random(3);
        for (int n : new int[] {0, 1, 7, 16, 33, 100, 1037}) {
            float[] a = MatrixKernelTest.gaussian(rnd, n + 5);
            float[] b = MatrixKernelTest.gaussian(rnd, n + 9);
            double dot = 0, mag = 0, sq = 0;
            for (int i = 0; i < n; i++) {
                dot += (double) a[3 + i] * b[7 + i];
                mag += Math.abs((double) a[3 + i] * b[7 + i]);
                sq += (double) a[3 + i] * a[3 + i];
            }
            double tol = 1e-5 * mag + 1e-30;
            assertEquals(dot, VectorMath.dot(a, 3, b, 7, n), tol, "dot n=" + n);
            assertEquals(dot, VectorMath.scalarDot(a, 3, b, 7, n), tol, "scalar dot n=" + n);
            assertEquals(sq, VectorMath.sumOfSquares(a, 3, n), 1e-5 * sq + 1e-30, "sumOfSquares n=" + n);
            assertEquals(sq, VectorMath.scalarSumOfSquares(a, 3, n), 1e-5 * sq + 1e-30, "scalar sumOfSquares n=" + n);

            float[] y1 = b.clone(), y2 = b.clone();
            VectorMath.axpy(0.75f, a, 3, y1, 7, n);
            VectorMath.scalarAxpy(0.75f, a, 3, y2, 7, n);
            for (int i = 0; i < b.length; i++) {
                double want = (i >= 7 && i < 7 + n) ? b[i] + 0.75 * a[i - 4] : b[i];
                assertEquals(want, y1[i], 1e-6 * (Math.abs(want) + 1), "axpy n=" + n + " i=" + i);
                assertEquals(want, y2[i], 1e-6 * (Math.abs(want) + 1), "scalar axpy n=" + n + " i=" + i);
            }
        }
    }
}
