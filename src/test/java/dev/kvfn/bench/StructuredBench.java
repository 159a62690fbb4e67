package dev.kvfn.bench;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.TokenSink;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.structured.ConstraintCursor;
import dev.kvfn.engine.structured.JsonSchemaGrammar;
import dev.kvfn.engine.structured.SchemaCheck;
import dev.kvfn.engine.structured.StructuredOutput;
import dev.kvfn.engine.structured.TokenConstraint;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The cost of constrained decoding per token, run with
 * {@code ./mvnw -B -Pbench verify -Dkvfn.bench.main=dev.kvfn.bench.StructuredBench} (never part of the tests).
 * For stories260K and a synthetic 32000-token model ({@code kvfn.bench.shape}, first of {@code kvfn.bench.types}):
 * sampled constrained generations over the test schemas are recorded, then their tokens are replayed through
 * fresh cursors timing {@code mask + advance} per token — cold (a new constraint: every state's mask is computed
 * on first sight) and warm (states seen before, as for a repeated schema) — against the model's decode step
 * ({@code tg}, unconstrained). Also the engine's own decode speed with and without the constraint.
 */
public final class StructuredBench {

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("kvfn.bench.threads", 2);
        String shape = Bench.shape("llama-135m");
        String type = System.getProperty("kvfn.bench.types", "Q8_0").split(",")[0].trim();
        int repeat = Integer.getInteger("kvfn.bench.repeat", 3);
        Path dir = Path.of(System.getProperty("kvfn.bench.dir", "target/bench-models"));
        Files.createDirectories(dir);
        System.out.printf("kvfn structured-output benchmark, %d threads; machine: %d cores visible, %s %s%n", threads,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.name"), System.getProperty("java.version"));
        StringBuilder table = new StringBuilder(String.format("| model | vocab | decode step ms | mask+advance warm ns/token | "
                + "cold ns/token | warm %% of step | cold %% of step | engine t/s free / constrained |%n|---|---|---|---|---|---|---|---|%n"));
        Path stories = Path.of(System.getProperty("kvfn.shared.models", "../shared/models")).resolve("stories260K.gguf");
        if (Files.exists(stories)) table.append(measure("stories260K", stories, threads, repeat, "Once upon a time"));
        Path synthetic = dir.resolve(shape + "-" + type + ".gguf");
        if (!Files.exists(synthetic)) SyntheticModel.write(SyntheticModel.Shape.byName(shape), GgmlType.valueOf(type), 1L, synthetic);
        table.append(measure(shape + " " + type, synthetic, threads, repeat, "Describe it as JSON:"));
        System.out.println();
        System.out.print(table);
    }

    static String measure(String name, Path model, int threads, int repeat, String prompt) throws Exception {
        try (CpuEngine engine = CpuEngine.load(model, null, threads)) {
            int[] tokens = engine.tokenizer().encode(prompt);
            int maxTokens = Math.min(48, engine.model().contextLength() - tokens.length);
            int vocab = engine.model().vocabSize();
            // the decode step, unconstrained, best of repeat
            run(engine, tokens, 16, null, -1);
            double stepMs = Double.MAX_VALUE;
            for (int i = 0; i < repeat; i++) stepMs = Math.min(stepMs, 1000 / run(engine, tokens, 65, null, -1).decodeTokensPerSecond());
            // constrained runs, recorded
            List<int[]> recorded = new ArrayList<>();
            List<String> schemas = new ArrayList<>();
            double freeTps = 0, constrainedTps = 0;
            for (int r = 0; r < repeat; r++) {
                for (String schema : SchemaCheck.SCHEMAS) {
                    TokenConstraint c = StructuredOutput.jsonSchema(SchemaCheck.parse(schema), engine.tokenizer());
                    GenerationResult g = run(engine, tokens, maxTokens, c, 100 + r);
                    recorded.add(g.tokens());
                    schemas.add(schema);
                    constrainedTps += g.decodeTokensPerSecond();
                    freeTps += run(engine, tokens, g.completionTokens(), null, 100 + r).decodeTokensPerSecond();
                }
            }
            freeTps /= recorded.size();
            constrainedTps /= recorded.size();
            // replay: cold on fresh constraints, then warm on the same ones
            float[] logits = new float[vocab], scratch = new float[vocab];
            SplittableRandom rnd = new SplittableRandom(1);
            for (int i = 0; i < vocab; i++) logits[i] = (float) rnd.nextGaussian();
            List<TokenConstraint> fresh = new ArrayList<>();
            for (String s : schemas) fresh.add(TokenConstraint.of(JsonSchemaGrammar.compile(s), engine.tokenizer()));
            long cold = 0, warm = Long.MAX_VALUE, count = 0;
            for (int i = 0; i < recorded.size(); i++) {
                cold += replay(fresh.get(i), recorded.get(i), logits, scratch);
                count += recorded.get(i).length;
            }
            for (int pass = 0; pass < Math.max(3, repeat); pass++) {
                long t = 0;
                for (int i = 0; i < recorded.size(); i++) t += replay(fresh.get(i), recorded.get(i), logits, scratch);
                warm = Math.min(warm, t);
            }
            double warmNs = warm / (double) count, coldNs = cold / (double) count;
            String row = String.format("| %s | %d | %.3f | %.0f | %.0f | %.3f%% | %.2f%% | %.1f / %.1f |%n", name, vocab, stepMs,
                    warmNs, coldNs, 100 * warmNs / (stepMs * 1e6), 100 * coldNs / (stepMs * 1e6), freeTps, constrainedTps);
            System.out.print(row);
            return row;
        }
    }

    /** Nanoseconds spent in mask and advance over {@code tokens} (the copy of fresh logits is not counted). */
    static long replay(TokenConstraint c, int[] tokens, float[] logits, float[] scratch) {
        ConstraintCursor cursor = c.start();
        long spent = 0;
        for (int t : tokens) {
            System.arraycopy(logits, 0, scratch, 0, logits.length);
            long t0 = System.nanoTime();
            cursor.mask(scratch);
            cursor.advance(t);
            spent += System.nanoTime() - t0;
        }
        return spent;
    }

    /** One generation; {@code seed < 0}: greedy. */
    static GenerationResult run(CpuEngine engine, int[] prompt, int maxTokens, TokenConstraint c, long seed) throws Exception {
        SamplingParams sampling = seed < 0 ? SamplingParams.GREEDY : new SamplingParams(0.8f, 0, 1f, 0f, seed);
        var request = new GenerationRequest(prompt, maxTokens, sampling).withConstraint(c);
        return engine.submit(request, TokenSink.NONE).result().get(30, TimeUnit.MINUTES);
    }
}
