package dev.kvfn.engine.cpu.kernel;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.Quantize;
import dev.kvfn.model.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernels the engine picks are the ones the JVM allows: the build runs the kernel and engine tests twice, once
 * with {@code --add-modules jdk.incubator.vector} ({@code kvfn.test.expect-kernels=vector}) and once without
 * ({@code =scalar}, the pom's {@code scalar-kernels} execution), so the fallback a native image without the Vector API
 * relies on is exercised by the same tests, and this one proves each run got the kernels it claims.
 */
class KernelSelectionTest {
    static final String EXPECT = System.getProperty("kvfn.test.expect-kernels",
            ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent() ? "vector" : "scalar");

    @Test
    void kernelsMatchTheModuleLayer() {
        boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        try (WorkerPool pool = new WorkerPool(1)) {
            for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0}) {
                Tensor t = new Tensor("w", type, new long[] {32, 2}, MemorySegment.ofArray(Quantize.encode(new float[64], type)));
                Matrix m = Matrices.of(t, pool);
                if (EXPECT.equals("scalar")) {
                    assertFalse(module, "this run should have no jdk.incubator.vector in the boot layer");
                    assertFalse(Matrices.vectorKernels());
                    assertEquals(ScalarMatrix.class, m.getClass(), type + " kernel");
                    assertFalse(KvKernels.vectorized(16), "paged attention kernels");
                    assertEquals("scalar", Matrices.numerics(), "the numerics block keys bind");
                } else {
                    assertEquals("vector", EXPECT, "kvfn.test.expect-kernels");
                    assertTrue(module, "this run should have jdk.incubator.vector in the boot layer");
                    assertTrue(Matrices.vectorKernels());
                    assertTrue(m.getClass().getName().contains("VectorMatrix"), type + " kernel: " + m.getClass());
                    assertTrue(KvKernels.vectorized(16), "paged attention kernels");
                    assertTrue(Matrices.numerics().matches("vector(256|512)"), "the numerics block keys bind: " + Matrices.numerics());
                }
            }
        }
    }
}
