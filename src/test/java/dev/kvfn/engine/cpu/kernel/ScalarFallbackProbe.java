package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Quantize;
import dev.kvfn.model.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/** Run by {@link ScalarFallbackTest} in a JVM started without {@code --add-modules jdk.incubator.vector}. */
final class ScalarFallbackProbe {
    public static void main(String[] args) {
        float[] w = new float[64];
        for (int i = 0; i < 32; i++) { w[i] = i % 4 == 0 ? 1f : 0f; w[32 + i] = i % 2 == 0 ? 2f : 0f; }
        float[] x = new float[32];
        for (int i = 0; i < 32; i++) x[i] = i % 8 == 0 ? 5f : (i % 2 == 0 ? 1f : 0f);
        try (WorkerPool pool = new WorkerPool(2)) {
            Matrix m = Matrices.of(new Tensor("probe", GgmlType.F32, new long[] {32, 2}, MemorySegment.ofArray(Quantize.encode(w, GgmlType.F32))), pool);
            float[] out = new float[2];
            m.multiply(x, out, 1);
            float d = VectorMath.sumOfSquares(x, 0, 32);
            System.out.println("kernel=" + m.getClass().getSimpleName() + " out=" + Arrays.toString(out) + " dot=" + d);
        }
    }
}
