package dev.kvfn.engine.cpu.kernel;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Without the jdk.incubator.vector module the scalar kernels run and no Vector API class is loaded. */
class ScalarFallbackTest {

    @Test
    void runsScalarWithoutVectorModule() throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "-Xlog:class+load=info", "-cp", System.getProperty("java.class.path"),
                ScalarFallbackProbe.class.getName()))
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "probe did not finish");
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("kernel=ScalarMatrix"), output);
        assertTrue(output.contains("out=[24.0, 64.0]"), output);
        assertFalse(output.contains("jdk.incubator.vector"), "a Vector API class was loaded:\n" + output);
        assertFalse(output.contains("dev.kvfn.engine.cpu.kernel.VectorMatrix"), output);
        assertFalse(output.contains("dev.kvfn.engine.cpu.kernel.VectorizedMath"), output);
    }
}
