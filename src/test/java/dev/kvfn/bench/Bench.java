package dev.kvfn.bench;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.model.WeightTypes;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Engine benchmark, run with {@code ./mvnw -B -Pbench verify} (never part of the tests).
 * Synthesizes Llama-1B-shaped models (cached under target/bench-models) and prints llama-bench style
 * prompt-processing (pp512) and generation (tg128) throughput, single stream.
 * Options (system properties): kvfn.bench.threads (default 2), kvfn.bench.types (default Q8_0,Q4_0; any
 * {@code kvfn synth --type}, mixtures such as Q4_K_M included),
 * kvfn.bench.shape (default llama-1b), kvfn.bench.repeat (default 3; the best run is reported).
 */
public final class Bench {

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("kvfn.bench.threads", 2);
        String shape = shape("llama-1b");
        String[] types = System.getProperty("kvfn.bench.types", "Q8_0,Q4_0").split(",");
        int repeat = Integer.getInteger("kvfn.bench.repeat", 3);
        Path dir = Path.of(System.getProperty("kvfn.bench.dir", "target/bench-models"));
        Files.createDirectories(dir);

        System.out.printf("kvfn engine benchmark: synthetic %s, %d threads, single stream%n", shape, threads);
        System.out.printf("machine: %s, %d cores visible, %s %s%n", cpuName(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name"), System.getProperty("java.version"));
        StringBuilder table = new StringBuilder();
        table.append(String.format("| model | type | size GiB | pp512 tokens/s | tg128 tokens/s |%n|---|---|---|---|---|%n"));
        for (String typeName : types) {
            WeightTypes type = WeightTypes.byName(typeName.trim()); // a single type or a mixture (Q4_K_M)
            Path file = dir.resolve(shape + "-" + type + ".gguf");
            if (!Files.exists(file)) {
                long t0 = System.nanoTime();
                SyntheticModel.write(SyntheticModel.Shape.byName(shape), type, 1L, file);
                System.out.printf("synthesized %s in %.1f s%n", file, (System.nanoTime() - t0) / 1e9);
            }
            try (CpuEngine engine = CpuEngine.load(file, null, threads)) {
                int vocab = engine.model().vocabSize();
                int bos = engine.tokenizer().bos();
                SplittableRandom rnd = new SplittableRandom(42);
                // warm-up: JIT-compile prefill and decode paths
                run(engine, randomPrompt(rnd, bos, vocab, 64), 16);
                double pp = 0, tg = 0;
                int tgTokens = 0;
                for (int i = 0; i < repeat; i++) {
                    GenerationResult r = run(engine, randomPrompt(rnd, bos, vocab, 512), 1);
                    pp = Math.max(pp, 512 * 1e9 / r.ttftNanos());
                    GenerationResult g = run(engine, new int[] {bos}, 129);
                    tg = Math.max(tg, g.decodeTokensPerSecond());
                    tgTokens = g.completionTokens() - 1;
                }
                String row = String.format("| %s | %s | %.2f | %.1f | %.1f%s |%n", shape, type,
                        Files.size(file) / (double) (1L << 30), pp, tg, tgTokens < 128 ? " (" + tgTokens + " tokens)" : "");
                System.out.print(row);
                table.append(row);
            }
        }
        System.out.println();
        System.out.print(table);
    }

    static GenerationResult run(CpuEngine engine, int[] prompt, int maxTokens) throws Exception {
        return engine.submit(new GenerationRequest(prompt, maxTokens, SamplingParams.GREEDY), TokenSink.NONE)
                .result().get(30, TimeUnit.MINUTES);
    }

    static int[] randomPrompt(SplittableRandom rnd, int bos, int vocab, int n) {
        int[] p = new int[n];
        p[0] = bos;
        for (int i = 1; i < n; i++) p[i] = 3 + rnd.nextInt(vocab - 3);
        return p;
    }

    /** The model shape a benchmark runs: {@code kvfn.bench.shape}, or {@code fallback} when unset or empty (the pom's default). */
    public static String shape(String fallback) {
        String shape = System.getProperty("kvfn.bench.shape", "");
        return shape.isBlank() ? fallback : shape.trim();
    }

    static String cpuName() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
        } catch (Exception e) {
            return "unknown CPU";
        }
    }
}
