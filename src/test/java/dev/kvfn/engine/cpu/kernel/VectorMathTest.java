package dev.kvfn.engine.cpu.kernel;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The public (vectorized where possible) and scalar bodies against float64 sums, with offsets and odd lengths. */
class VectorMathTest {

    @Test
    void sumOfSquaresMatchesFloat64() {
        Random rnd = new Random(3);
        for (int n : new int[] {0, 1, 7, 16, 33, 100, 1037}) {
            float[] a = MatrixKernelTest.gaussian(rnd, n + 5);
            double sq = 0;
            for (int i = 0; i < n; i++) sq += (double) a[3 + i] * a[3 + i];
            assertEquals(sq, VectorMath.sumOfSquares(a, 3, n), 1e-5 * sq + 1e-30, "sumOfSquares n=" + n);
            assertEquals(sq, VectorMath.scalarSumOfSquares(a, 3, n), 1e-5 * sq + 1e-30, "scalar sumOfSquares n=" + n);
        }
    }
}
