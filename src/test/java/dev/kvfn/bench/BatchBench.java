package dev.kvfn.bench;

import dev.kvfn.engine.cpu.ContiguousKv;
import dev.kvfn.engine.cpu.SequenceKv;
import dev.kvfn.engine.cpu.LlamaConfig;
import dev.kvfn.engine.cpu.LlamaWeights;
import dev.kvfn.engine.cpu.Transformer;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.SyntheticModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Batched-forward benchmark (a {@code main}, never part of the tests): aggregate decode throughput
 * when 1, 4 and 16 sequences share each forward step (one row per sequence, so every weight matrix
 * is streamed once per step for all of them), and single-sequence prompt processing of 512 tokens.
 * Uses the synthetic Llama-1B-shaped Q8_0 model, synthesized into target/bench-models if absent.
 * Options (system properties): kvfn.bench.threads (default 2), kvfn.bench.dir (default
 * target/bench-models), kvfn.bench.decodeSteps (default 32), kvfn.bench.streams (default 1,4,16),
 * kvfn.bench.shape (default llama-1b), kvfn.bench.pp (prompt length, default 512).
 */
public final class BatchBench {
    private static final int PROMPT = 8;

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("kvfn.bench.threads", 2);
        int decodeSteps = Integer.getInteger("kvfn.bench.decodeSteps", 32);
        String[] streamCounts = System.getProperty("kvfn.bench.streams", "1,4,16").split(",");
        Path dir = Path.of(System.getProperty("kvfn.bench.dir", "target/bench-models"));
        Files.createDirectories(dir);
        String shape = Bench.shape("llama-1b");
        int pp = Integer.getInteger("kvfn.bench.pp", 512);
        Path file = dir.resolve(shape + "-Q8_0.gguf");
        if (!Files.exists(file)) {
            long t0 = System.nanoTime();
            SyntheticModel.write(SyntheticModel.Shape.byName(shape), GgmlType.Q8_0, 1, file);
            System.out.printf("synthesized %s in %.1f s%n", file, (System.nanoTime() - t0) / 1e9);
        }
        int maxStreams = 1;
        for (String s : streamCounts) maxStreams = Math.max(maxStreams, Integer.parseInt(s.trim()));

        System.out.printf("kvfn batched forward: %s, %d threads, %d cores visible, %s %s%n", file, threads,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.name"), System.getProperty("java.version"));
        try (GgufFile gguf = GgufFile.open(file); WorkerPool pool = new WorkerPool(threads)) {
            LlamaConfig config = LlamaConfig.fromGguf(gguf).withContextLength(pp + 64);
            LlamaWeights weights = LlamaWeights.load(config, gguf.tensors(), file, pool);
            Transformer transformer = new Transformer(config, weights, pool, pp);
            Transformer.StepBatch batch = new Transformer.StepBatch(pp, maxStreams, config.vocab());
            SplittableRandom rnd = new SplittableRandom(42);

            decode(transformer, batch, config, rnd, 4, 3); // warm-up: JIT-compile the batched and decode paths

            StringBuilder table = new StringBuilder(String.format(
                    "| sequences | rows/step | decode steps | seconds | aggregate tokens/s | per-sequence tokens/s |%n|---|---|---|---|---|---|%n"));
            for (String s : streamCounts) {
                int streams = Integer.parseInt(s.trim());
                double seconds = decode(transformer, batch, config, rnd, streams, decodeSteps);
                double aggregate = (double) streams * decodeSteps / seconds;
                String row = String.format("| %d | %d | %d | %.2f | %.2f | %.2f |%n", streams, streams, decodeSteps, seconds,
                        aggregate, aggregate / streams);
                System.out.print(row);
                table.append(row);
            }

            SequenceKv kv = ContiguousKv.forModel(config);
            batch.clear();
            for (int i = 0; i < pp; i++) batch.add(token(rnd, config), i, kv, i == pp - 1);
            long t0 = System.nanoTime();
            transformer.forward(batch);
            double ppSeconds = (System.nanoTime() - t0) / 1e9;
            String row = String.format("| pp%d (1 sequence) | %d | 1 | %.2f | %.1f | |%n", pp, pp, ppSeconds, pp / ppSeconds);
            System.out.print(row);
            table.append(row);
            System.out.println();
            System.out.print(table);
        }
    }

    /**
     * {@code streams} sequences each prefill a short prompt (all in one step), then run
     * {@code steps} decode steps of one greedy row per sequence; returns the decode seconds.
     */
    private static double decode(Transformer t, Transformer.StepBatch batch, LlamaConfig config, SplittableRandom rnd,
                                 int streams, int steps) {
        SequenceKv[] stores = new SequenceKv[streams];
        int[] next = new int[streams];
        batch.clear();
        for (int s = 0; s < streams; s++) {
            stores[s] = ContiguousKv.forModel(config);
            for (int i = 0; i < PROMPT; i++) batch.add(token(rnd, config), i, stores[s], i == PROMPT - 1);
        }
        t.forward(batch);
        readNext(batch, next);
        long t0 = System.nanoTime();
        for (int step = 0; step < steps; step++) {
            batch.clear();
            for (int s = 0; s < streams; s++) batch.add(next[s], PROMPT + step, stores[s], true);
            t.forward(batch);
            readNext(batch, next);
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    private static void readNext(Transformer.StepBatch batch, int[] next) {
        float[] logits = batch.logits();
        for (int j = 0; j < batch.logitCount(); j++) {
            int from = batch.logitOffset(j);
            int best = from;
            for (int i = from + 1; i < from + batch.vocab(); i++) if (logits[i] > logits[best]) best = i;
            next[j] = best - from;
        }
    }

    private static int token(SplittableRandom rnd, LlamaConfig config) {
        return 3 + rnd.nextInt(config.vocab() - 3);
    }
}
