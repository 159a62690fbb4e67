package dev.kvfn.bench;

import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.cpu.EngineOptions;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.KvLayout;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Paged KV benchmark: {@code ./mvnw -B -Pbench verify -Dkvfn.bench.main=dev.kvfn.bench.KvBench}.
 * On synthetic llama-1b Q8_0 (f16 KV, 16-token blocks), prints:
 * <ol>
 *   <li>TTFT of a 2048-token prompt whose first 1984 tokens are in the pool, of the same-length prompt
 *       cold, and of a 64-token prompt cold (target: cached within 1.2x of the 64-token case);</li>
 *   <li>aggregate decode tokens/s with 1, 4 and 16 concurrent streams next to the engine's own
 *       prompt processing (pp512) tokens/s (target: 16 streams at least 0.8x pp);</li>
 *   <li>KV bytes per token for f32, f16 and q8.</li>
 * </ol>
 * Every timed prompt is fresh random tokens unless it is meant to hit the cache. Best of
 * {@code kvfn.bench.repeat} runs.
 */
public final class KvBench {

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("kvfn.bench.threads", 2);
        int repeat = Integer.getInteger("kvfn.bench.repeat", 3);
        String shapeName = Bench.shape("llama-1b");
        Path dir = Path.of(System.getProperty("kvfn.bench.dir", "target/bench-models"));
        Files.createDirectories(dir);
        GgmlType type = GgmlType.Q8_0;
        Path file = dir.resolve(shapeName + "-" + type + ".gguf");
        if (!Files.exists(file)) SyntheticModel.write(SyntheticModel.Shape.byName(shapeName), type, 1L, file);

        System.out.printf("kvfn paged KV benchmark: synthetic %s %s, %d threads, f16 KV in 16-token blocks%n", shapeName, type, threads);
        System.out.printf("machine: %s, %d cores visible, %s %s%n", Bench.cpuName(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name"), System.getProperty("java.version"));
        var rnd = new SplittableRandom(7);
        StringBuilder out = new StringBuilder();
        try (CpuEngine engine = CpuEngine.load(file, null, EngineOptions.defaults(threads).withContextLimit(4096))) {
            int vocab = engine.model().vocabSize(), bos = engine.tokenizer().bos();
            System.out.printf("pool: %s%n", engine.stats());
            Bench.run(engine, Bench.randomPrompt(rnd, bos, vocab, 128), 8); // JIT warm-up

            // 1. TTFT: cached prefix vs cold
            int[] prefix = Bench.randomPrompt(rnd, bos, vocab, 1984);
            Bench.run(engine, concat(prefix, Bench.randomPrompt(rnd, bos, vocab, 65)), 1); // puts the 1984-token prefix in the pool
            double cold64 = Double.MAX_VALUE, cold2048 = Double.MAX_VALUE, cached = Double.MAX_VALUE;
            int cachedTokens = 0;
            for (int i = 0; i < repeat; i++) {
                cold64 = Math.min(cold64, ttftMs(Bench.run(engine, Bench.randomPrompt(rnd, bos, vocab, 64), 1)));
                GenerationResult hit = Bench.run(engine, concat(prefix, Bench.randomPrompt(rnd, bos, vocab, 65)), 1);
                cachedTokens = hit.cachedTokens();
                cached = Math.min(cached, ttftMs(hit));
                if (i == 0 || repeat <= 2) {
                    cold2048 = Math.min(cold2048, ttftMs(Bench.run(engine, Bench.randomPrompt(rnd, bos, vocab, 2048), 1)));
                }
            }
            out.append(String.format("%nTime to first token (ms, best of %d)%n", repeat));
            out.append(String.format("| prompt | cached tokens | TTFT ms | vs 64-token cold |%n|---|---|---|---|%n"));
            out.append(String.format("| 2048 tokens, 1984 cached | %d | %.1f | %.2fx (target <= 1.2x) |%n", cachedTokens, cached, cached / cold64));
            out.append(String.format("| 2048 tokens cold | 0 | %.1f | %.2fx |%n", cold2048, cold2048 / cold64));
            out.append(String.format("| 64 tokens cold | 0 | %.1f | 1.00x |%n", cold64));
            System.out.print(out);

            // 2. aggregate decode vs prompt processing, measured in alternation so that a machine that speeds up or
            //    slows down during the run moves both sides of each ratio alike; the median ratio is reported
            double[] pps = new double[repeat];
            double[][] agg = new double[3][repeat];
            int[] streamCounts = {1, 4, 16};
            for (int i = 0; i < repeat; i++) {
                pps[i] = 512 * 1e9 / Bench.run(engine, Bench.randomPrompt(rnd, bos, vocab, 512), 1).ttftNanos();
                for (int k = 0; k < streamCounts.length; k++) agg[k][i] = aggregateDecode(engine, rnd, streamCounts[k], 64);
            }
            double ppMedian = median(pps.clone());
            StringBuilder t2 = new StringBuilder(String.format(
                    "%nAggregate decode, 64 tokens per stream after an 8-token prompt; %d rounds, each a pp512 then the streams%n", repeat));
            t2.append(String.format("| streams | aggregate tokens/s (median) | per stream | median of per-round ratio to pp512 (pp512 median %.1f t/s) | ratio range |%n|---|---|---|---|---|%n",
                    ppMedian));
            for (int k = 0; k < streamCounts.length; k++) {
                double[] ratios = new double[repeat];
                for (int i = 0; i < repeat; i++) ratios[i] = agg[k][i] / pps[i];
                double m = median(agg[k].clone()), r = median(ratios.clone());
                java.util.Arrays.sort(ratios);
                t2.append(String.format("| %d | %.1f | %.1f | %.2fx%s | %.2f–%.2f |%n", streamCounts[k], m, m / streamCounts[k], r,
                        streamCounts[k] == 16 ? " (target >= 0.8x)" : "", ratios[0], ratios[repeat - 1]));
            }
            System.out.print(t2);
            out.append(t2);

            // 3. KV bytes per token
            var c = engine.config();
            StringBuilder t3 = new StringBuilder(String.format("%nKV memory per token (%d layers x %d kv heads x %d dims, K and V)%n",
                    c.layers(), c.kvHeads(), c.headSize()));
            t3.append(String.format("| element type | bytes/token | 16-token block bytes | vs f32 |%n|---|---|---|---|%n"));
            double f32 = new KvLayout(c.layers(), c.kvHeads(), c.headSize(), 16, KvElementType.F32).bytesPerToken();
            for (KvElementType kv : KvElementType.values()) {
                var layout = new KvLayout(c.layers(), c.kvHeads(), c.headSize(), 16, kv);
                t3.append(String.format("| %s | %.0f | %d | %.3f |%n", kv.configName(), layout.bytesPerToken(), layout.blockBytes(),
                        layout.bytesPerToken() / f32));
            }
            System.out.print(t3);
            out.append(t3);
            System.out.printf("%nfinal pool: %s%n", engine.stats());
        }
        System.out.println();
        System.out.print(out);
    }

    /**
     * {@code streams} requests at once; tokens/s over the time all of them were decoding together
     * (from the last first token to the first finish), so prefill and stragglers do not count.
     */
    static double aggregateDecode(CpuEngine engine, SplittableRandom rnd, int streams, int tokens) throws Exception {
        int vocab = engine.model().vocabSize(), bos = engine.tokenizer().bos();
        long[][] times = new long[streams][tokens];
        List<Generation> gens = new ArrayList<>();
        for (int s = 0; s < streams; s++) {
            int id = s;
            int[] count = {0};
            gens.add(engine.submit(new GenerationRequest(Bench.randomPrompt(rnd, bos, vocab, 8), tokens, SamplingParams.GREEDY),
                    (t, text) -> times[id][count[0]++] = System.nanoTime()));
        }
        for (Generation g : gens) g.result().get(30, TimeUnit.MINUTES);
        long start = 0, end = Long.MAX_VALUE;
        for (int s = 0; s < streams; s++) {
            start = Math.max(start, times[s][0]);
            end = Math.min(end, times[s][tokens - 1]);
        }
        long produced = 0;
        for (int s = 0; s < streams; s++) for (long t : times[s]) if (t > start && t <= end) produced++;
        return produced * 1e9 / (end - start);
    }

    static double median(double[] v) {
        java.util.Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static double ttftMs(GenerationResult r) {
        return r.ttftNanos() / 1e6;
    }

    static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length - 1);
        System.arraycopy(b, 1, c, a.length, b.length - 1); // b's first token is a BOS: drop it
        return c;
    }
}
