package dev.kvfn.coldstart;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The build's training run for the JVM start-up cache (the pom's {@code aot-training} execution, package phase):
 * starts the packaged app through {@code target/kvfn} the way production starts it, on the built-in model, and makes
 * it do what a cold replica does first — attach a host store holding a warm prefix, restore that prefix into the
 * pool, serve the function and the OpenAI API (streamed and whole), answer health, cache and metrics — then SIGTERM,
 * at which the JVM writes the cache. A first, unrecorded process puts the prefix in the host store.
 *
 * <pre>java -cp target/test-classes dev.kvfn.coldstart.AotTraining TARGET_DIR [aot|appcds] [vector|scalar]</pre>
 * {@code aot} writes {@code quarkus-app/app.aot} (JDK 25 AOT cache, {@code -XX:AOTCacheOutput}); {@code appcds} writes
 * {@code quarkus-app/app-cds.jsa} (a dynamic AppCDS archive, {@code -XX:ArchiveClassesAtExit}, for comparison);
 * {@code scalar} records without the Vector API module ({@code KVFN_VECTOR=off}, {@code app-scalar.aot}).
 */
public final class AotTraining {
    static final String PREFIX = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
            + "One day, she saw a big, red ball. She wanted to play with it, but it was too high. Lily's mom said, "
            + "\"Lily, let's go to the park.\" Lily was sad and didn't want to go.";

    private AotTraining() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) throw new IllegalArgumentException("usage: AotTraining TARGET_DIR [aot|appcds] [vector|scalar]");
        Path target = Path.of(args[0]).toAbsolutePath();
        String kind = args.length > 1 ? args[1] : "aot";
        boolean scalar = args.length > 2 && args[2].equals("scalar");
        Path out = train(target, kind, scalar);
        System.out.printf("kvfn start-up cache written: %s (%d MiB)%n", out, Files.size(out) >> 20);
    }

    /** The file a training run of {@code kind} writes, in {@code target/quarkus-app}. */
    static Path output(Path target, String kind, boolean scalar) {
        String name = switch (kind) {
            case "aot" -> scalar ? "app-scalar.aot" : "app.aot";
            case "appcds" -> scalar ? "app-cds-scalar.jsa" : "app-cds.jsa";
            default -> throw new IllegalArgumentException("unknown cache kind " + kind + ": use aot or appcds");
        };
        return target.resolve("quarkus-app").resolve(name);
    }

    static Path train(Path target, String kind, boolean scalar) throws Exception {
        Path launcher = target.resolve("kvfn");
        AppProcess.requireExists(launcher, "the launcher (./mvnw package)");
        Path out = output(target, kind, scalar);
        Files.deleteIfExists(out);
        Path work = Files.createDirectories(target.resolve("aot-training"));
        Path hostStore = Files.createTempDirectory(Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm") : work, "kvfn-aot-training-");
        try {
            Map<String, String> env = new HashMap<>();
            env.put("KVFN_KV_HOST_STORE_PATH", hostStore.toString());
            env.put("KVFN_KV_HOST_STORE_BYTES", "64M");
            env.put("KVFN_KV_REPORT_CACHED_TOKENS", "always");
            env.put("KVFN_AOT_CACHE", "off"); // record from scratch, never on top of an older cache
            env.put("KVFN_VECTOR", scalar ? "off" : "on"); // the launcher's auto would pick scalar for the built-in model
            try (AppProcess warm = AppProcess.start(launcher, env, work.resolve("warm.log"))) {
                warm.awaitReady(Duration.ofMinutes(5));
                warm.post("/warm", "{\"prompt\": " + AppProcess.json(PREFIX) + "}");
                warm.stop(Duration.ofMinutes(2));
            }
            env.put("KVFN_JAVA_OPTS", switch (kind) {
                case "aot" -> "-XX:AOTCacheOutput=" + out;
                default -> "-XX:ArchiveClassesAtExit=" + out;
            });
            try (AppProcess app = AppProcess.start(launcher, env, work.resolve("record-" + out.getFileName() + ".log"))) {
                app.awaitReady(Duration.ofMinutes(5));
                String generated = app.post("/generate", "{\"prompt\": " + AppProcess.json(PREFIX + " Then the sun came out.")
                        + ", \"maxTokens\": 8}");
                if (AppProcess.intField(generated, "cachedTokens") == 0) {
                    throw new IllegalStateException("the training request restored nothing from the host store: " + generated);
                }
                app.firstTokenMillis(PREFIX + " Then it rained.", 8);
                app.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story.\"}], \"max_tokens\": 4}");
                app.post("/tokenize", "{\"text\": \"Once upon a time\"}");
                app.get("/q/cache", true);
                app.get("/q/metrics", true);
                app.get("/q/health/live", true);
                int rc = app.stop(Duration.ofMinutes(10)); // the JVM writes the cache as it exits
                if (rc != 0 && rc != 143) throw new IllegalStateException("training run exited with " + rc + ":\n" + Files.readString(app.log));
                if (!Files.isRegularFile(out) || Files.size(out) == 0) {
                    throw new IllegalStateException("the training run wrote no " + out + ":\n" + Files.readString(app.log));
                }
            }
            return out;
        } finally {
            try (Stream<Path> files = Files.walk(hostStore)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
