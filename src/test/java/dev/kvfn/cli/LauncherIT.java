package dev.kvfn.cli;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launcher's kernel choice ({@code target/kvfn}, {@code KVFN_VECTOR=auto}): the built-in model and model files under
 * 4 MiB start without the Vector API module (scalar kernels, sooner ready), larger files and models configured where the
 * launcher cannot size them start with it, and a JVM left without it for a large model says so at start-up. Each case
 * runs {@code kvfn generate} for one token and reads the engine's start-up line.
 */
class LauncherIT {
    static final String SCALAR = " threads, scalar kernels;";
    static final String VECTOR = " threads, Vector API kernels;";

    @TempDir
    static Path models;
    static Path tiny;
    static Path large;

    @TempDir
    Path cwd;

    record Run(int exitCode, String output) {}

    @BeforeAll
    static void writeModels() throws IOException {
        tiny = models.resolve("tiny-F32.gguf");
        SyntheticModel.write(SyntheticModel.Shape.byName("tiny"), GgmlType.F32, 1, tiny);
        large = models.resolve("llama-135m-Q4_0.gguf");
        SyntheticModel.write(SyntheticModel.Shape.byName("llama-135m"), GgmlType.Q4_0, 1, large);
        assertTrue(Files.size(tiny) < 4 << 20 && Files.size(large) >= 4 << 20, "the two sizes straddle the launcher's 4 MiB");
    }

    Run generate(Map<String, String> env) throws Exception {
        return generate(env, "Once upon");
    }

    Run generate(Map<String, String> env, String prompt) throws Exception {
        Path log = cwd.resolve("launcher.log");
        var pb = new ProcessBuilder(List.of(System.getProperty("kvfn.launcher"), "generate", "--prompt", prompt, "--max-tokens", "1"))
                .directory(cwd.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove("KVFN_MODEL_PATH");
        pb.environment().remove("KVFN_VECTOR");
        pb.environment().remove("KVFN_JAVA_OPTS");
        pb.environment().put("JAVA_HOME", System.getProperty("java.home.for.app", System.getProperty("java.home")));
        pb.environment().put("KVFN_KV_HOST_STORE_ENABLED", "false");
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) { // a hang, not a slow machine: one token of a small model
            p.destroyForcibly();
            throw new IllegalStateException("kvfn generate did not exit:\n" + Files.readString(log));
        }
        return new Run(p.exitValue(), Files.readString(log));
    }

    static void assertStarted(Run run, String kernels) {
        assertEquals(0, run.exitCode(), run.output());
        assertTrue(run.output().contains(kernels), "expected '" + kernels + "' in:\n" + run.output());
    }

    @Test
    void builtInModelStartsWithoutTheVectorModule() throws Exception {
        Run run = generate(Map.of());
        assertStarted(run, SCALAR);
        assertFalse(run.output().contains("Using incubator modules"), run.output());
    }

    @Test
    void smallModelFileStartsWithoutIt() throws Exception {
        assertStarted(generate(Map.of("KVFN_MODEL_PATH", tiny.toString())), SCALAR);
    }

    @Test
    void largeModelFileStartsWithIt() throws Exception {
        Run run = generate(Map.of("KVFN_MODEL_PATH", large.toString()));
        assertStarted(run, VECTOR);
        assertFalse(run.output().contains("Scalar kernels:"), run.output());
    }

    @Test
    void modelConfiguredWhereTheLauncherCannotSizeItStartsWithIt() throws Exception {
        Files.writeString(cwd.resolve(".env"), "KVFN_MODEL_PATH=" + tiny + "\n"); // Quarkus reads .env from the working directory
        Run run = generate(Map.of());
        assertStarted(run, VECTOR);
        assertTrue(run.output().contains("tiny-F32.gguf"), "the model from .env is served:\n" + run.output());
    }

    @Test
    void explicitOnAndOffWin() throws Exception {
        assertStarted(generate(Map.of("KVFN_VECTOR", "on")), VECTOR);
        Run off = generate(Map.of("KVFN_VECTOR", "off", "KVFN_MODEL_PATH", large.toString()));
        assertStarted(off, SCALAR);
        assertTrue(off.output().contains("Scalar kernels: this JVM was started without the Vector API module"), off.output());
    }

    /**
     * Block keys bind the kernels' numerics: a prefix one process put in the host store with scalar kernels is a hit for
     * the next scalar process and a miss for a Vector API one (whose sums round differently), never restored there.
     */
    @Test
    void hostStoreBlocksAreNotSharedAcrossKernels() throws Exception {
        Path store = cwd.resolve("host-store");
        Map<String, String> env = new java.util.HashMap<>(Map.of("KVFN_KV_HOST_STORE_ENABLED", "true",
                "KVFN_KV_HOST_STORE_PATH", store.toString(), "KVFN_KV_HOST_STORE_BYTES", "16M",
                "KVFN_KV_REPORT_CACHED_TOKENS", "always", "KVFN_VECTOR", "off"));
        String prompt = "Once upon a time there was a little girl named Lily who loved to play in the park with her friends";
        assertEquals(0, cached(generate(env, prompt)), "a fresh store holds nothing");
        assertTrue(cached(generate(env, prompt)) > 0, "the scalar process after it restores the prefix");
        env.put("KVFN_VECTOR", "on");
        assertEquals(0, cached(generate(env, prompt)), "a Vector API process computes its own");
        assertTrue(cached(generate(env, prompt)) > 0, "and then restores those");
    }

    /** The cached-token count {@code kvfn generate} reports ("[N prompt (C cached) + ..."). */
    static int cached(Run run) {
        assertEquals(0, run.exitCode(), run.output());
        var m = java.util.regex.Pattern.compile("\\[\\d+ prompt \\((\\d+) cached\\)").matcher(run.output());
        assertTrue(m.find(), "no cached count in:\n" + run.output());
        return Integer.parseInt(m.group(1));
    }

    @Test
    void unknownValueIsRefused() throws Exception {
        Run run = generate(Map.of("KVFN_VECTOR", "maybe"));
        assertEquals(1, run.exitCode(), run.output());
        assertTrue(run.output().contains("KVFN_VECTOR must be on, off or auto, not 'maybe'"), run.output());
    }
}
