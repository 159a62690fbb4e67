package dev.kvfn.engine.cpu;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.model.WeightTypes;
import dev.kvfn.model.SyntheticModel.Shape;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Differential test against native llama.cpp ({@link LlamaCppReference}): every case's GGUF goes through llama.cpp
 * and through kvfn on the same prompt token ids, and kvfn must agree on
 * <ol>
 *   <li><b>logits, at every greedy step</b>: kvfn is teacher-forced along llama.cpp's greedy tokens (so one near
 *       tie cannot end the comparison) and each step's logits must match llama.cpp's within the case's tolerance;</li>
 *   <li><b>greedy tokens, teacher-forced</b>: at every step kvfn's argmax is llama.cpp's token, unless the two are a
 *       near tie in kvfn's own logits (see {@link #nearTieGap});</li>
 *   <li><b>greedy tokens, free-running</b>: the whole {@link CpuEngine} (paged KV, batched decode, prefix cache, the
 *       sampler) generates llama.cpp's tokens between near ties, each stretch restarted after one from llama.cpp's
 *       tokens so far, and at least {@link #MIN_FREE_RUN_TOKENS} tokens per prompt must be compared that way;</li>
 *   <li><b>tokenization</b>: kvfn's tokenizer from the same GGUF gives llama.cpp's ids for every text in {@link #TEXTS}.</li>
 * </ol>
 * One Node process answers for all cases. Adding a case is one line in {@link #CASES}.
 */
class LlamaCppParityTest {
    /**
     * The synthetic shape of the parity cases: every width a multiple of 256 (the K-quant super-block), grouped-query
     * attention (4 query heads over 2 KV heads, head size 64), 2 layers, 512 tokens: about 2M weights, so a case
     * costs well under a second on either side.
     */
    static final Shape PARITY = new Shape("parity", 256, 2, 4, 2, 768, 256, 512, 10000f, 1e-5f);

    /*
     * Tolerances: the largest |kvfn - llama.cpp| over the vocabulary of a step's logits (both centred on their
     * mean, as only differences of logits matter) divided by the spread (standard deviation) of kvfn's logits,
     * checked at every step. Relative to the spread because synthetic and real models have very different logit
     * scales. kvfn computes in f32 with f32 activations whatever the weight type; llama.cpp rounds the activations
     * to the weights' "vec_dot_type" first, and that rounding sets each bound. The measured worst cases (this
     * machine, AVX2 build, 3 prompts x 24 steps) scale as that rounding predicts: f32 4e-6, f16 (2^-11) 3.7e-3,
     * bf16 (2^-8, 8x coarser) 3.2e-2, Q8_0 activations (step max|x|/127 per 32) 8.0e-2 (Q8_0) and 9.1e-2 (Q4_0).
     * Each bound is about twice its measurement (other CPU builds sum in other orders) and never loosened to make a
     * failure pass. A real bug (a RoPE pairing, a block layout, a scale, a norm) moves logits by a large fraction of
     * their spread: far above all of these.
     */
    /** F32 weights: both sides compute in f32; what is left is summation order and exp/rsqrt rounding. */
    static final double F32_ACTIVATIONS = 1e-4;
    /** F16 weights: llama.cpp rounds activations to f16 (relative error 2^-11 per element). */
    static final double F16_ACTIVATIONS = 1e-2;
    /** BF16 weights: llama.cpp rounds activations to bf16 (relative error 2^-8 per element). */
    static final double BF16_ACTIVATIONS = 6e-2;
    /** Quantized weights: llama.cpp quantizes activations to Q8_0 blocks (Q8_K for K-quants) before the dot product. */
    static final double Q8_ACTIVATIONS = 0.15;
    /**
     * K-quant weights: llama.cpp quantizes activations to Q8_K, one scale per 256 instead of per 32, so one large
     * activation coarsens the step of 255 others (up to 8x Q8_0's). Measured (3 prompts x 24 steps, AVX2 build):
     * Q4_K 0.191, Q5_K 0.126, Q6_K 0.120, Q4_K_M 0.116, Q5_K_M 0.122. That this is the activations' rounding and
     * not a misread layout was checked once by making kvfn round its activations to Q8_K as llama.cpp does before
     * every K-quant product (an experiment, not committed): the errors fell to 0.065, 0.051, 0.060, 0.013. The
     * bound is about 1.6x the worst measurement. A misread layout fails it at the first step: reading the top bits
     * of sub-blocks 4-7's scales from the min's byte (a mutation, not committed) gave 0.55 (Q4_K) and 0.49 (Q5_K).
     * Q2_K and Q3_K use Q8_K activations too and stay under the same bound, not a looser one of their own: measured
     * (2026-11-30, same build and prompts) Q3_K 0.128, Q2_K 0.143, Q3_K_M 0.114, Q2_K_M 0.124, Qwen 3 in Q3_K 0.129,
     * Phi-3 in Q2_K 0.159; their coarser weights do not enlarge the activations' rounding error, which is what this
     * bound measures. Misreads fail at step 0 (mutations, not committed): Q2_K scale and min nibbles swapped 3.2 (Q2_K) and 2.7 (Q2_K_M); Q3_K scales' low
     * nibbles swapped 1.17 (Q3_K), 0.56 (Q3_K_M), 0.59 (Q2_K_M). (Swapping the 2-bit tops of Q3_K's scales went
     * unnoticed here: nearly every scale kvfn's encoder writes has the same top bits; MatrixKernelTest's random
     * blocks catch it.)
     */
    static final double Q8K_ACTIVATIONS = 0.3;

    /**
     * One line per case: architecture, tensor type, shape, tolerance; another architecture's synthetic models come
     * in with {@code ParityCase.synthetic("qwen2", GgmlType.Q8_0, PARITY, Q8_ACTIVATIONS, ItsWriter::write)}.
     */
    static final List<ParityCase> CASES = List.of(
            ParityCase.llama(GgmlType.F32, PARITY, F32_ACTIVATIONS),
            ParityCase.llama(GgmlType.F16, PARITY, F16_ACTIVATIONS),
            ParityCase.llama(GgmlType.BF16, PARITY, BF16_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q8_0, PARITY, Q8_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q4_0, PARITY, Q8_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q4_1, PARITY, Q8_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q5_0, PARITY, Q8_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q5_1, PARITY, Q8_ACTIVATIONS),
            ParityCase.llama(GgmlType.IQ4_NL, PARITY, Q8_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q4_K, PARITY, Q8K_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q5_K, PARITY, Q8K_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q6_K, PARITY, Q8K_ACTIVATIONS),
            ParityCase.mixture(WeightTypes.Q4_K_M, PARITY, Q8K_ACTIVATIONS),
            ParityCase.mixture(WeightTypes.Q5_K_M, PARITY, Q8K_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q3_K, PARITY, Q8K_ACTIVATIONS),
            ParityCase.llama(GgmlType.Q2_K, PARITY, Q8K_ACTIVATIONS),
            ParityCase.mixture(WeightTypes.Q3_K_M, PARITY, Q8K_ACTIVATIONS),
            ParityCase.mixture(WeightTypes.Q2_K_M, PARITY, Q8K_ACTIVATIONS),
            ParityCase.sharedModel("llama", "stories260K.gguf", F32_ACTIVATIONS),
            // architectures (ArchitecturesTest proves each difference from llama on the same weights)
            ParityCase.synthetic("qwen2", GgmlType.F32, PARITY, F32_ACTIVATIONS, ArchitectureParityModels::qwen2),
            ParityCase.synthetic("qwen2", GgmlType.Q8_0, PARITY, Q8_ACTIVATIONS, ArchitectureParityModels::qwen2),
            ParityCase.synthetic("qwen3", GgmlType.F32, PARITY, F32_ACTIVATIONS, ArchitectureParityModels::qwen3),
            ParityCase.synthetic("qwen3", GgmlType.Q8_0, PARITY, Q8_ACTIVATIONS, ArchitectureParityModels::qwen3),
            ParityCase.synthetic("phi3", GgmlType.F32, PARITY, F32_ACTIVATIONS, ArchitectureParityModels::phi3),
            ParityCase.synthetic("phi3", GgmlType.Q8_0, PARITY, Q8_ACTIVATIONS, ArchitectureParityModels::phi3),
            // K-quants under other architectures (Qwen 3's wider heads, Phi-3's fused rows)
            ParityCase.synthetic("qwen3", GgmlType.Q4_K, PARITY, Q8K_ACTIVATIONS, ArchitectureParityModels::qwen3),
            ParityCase.synthetic("phi3", GgmlType.Q6_K, PARITY, Q8K_ACTIVATIONS, ArchitectureParityModels::phi3),
            ParityCase.synthetic("qwen3", GgmlType.Q3_K, PARITY, Q8K_ACTIVATIONS, ArchitectureParityModels::qwen3),
            ParityCase.synthetic("phi3", GgmlType.Q2_K, PARITY, Q8K_ACTIVATIONS, ArchitectureParityModels::phi3),
            ParityCase.synthetic("phi3-longrope", GgmlType.F32, PARITY, F32_ACTIVATIONS, ArchitectureParityModels::phi3LongRope),
            ParityCase.synthetic("mistral-swa", GgmlType.F32, PARITY, F32_ACTIVATIONS, ArchitectureParityModels::mistralSlidingWindow));

    /** Greedy steps per prompt (all prompts fit stories260K's 128 positions). */
    static final int STEPS = 24;
    /** A prompt whose near ties leave fewer free-running tokens to compare fails: pick other prompts then. */
    static final int MIN_FREE_RUN_TOKENS = STEPS / 2;
    /** Texts for the prompts (as kvfn tokenizes them, BOS added) and for the tokenizer comparison. */
    static final List<String> TEXTS = List.of("Once upon a time", "The quick brown fox jumps over the lazy dog.",
            " leading space, trailing space ", "numbers 1234567 and symbols: (a+b)*c=d!?", "héllo wörld — 日本語",
            "special <s> and </s> inside");
    /**
     * Two top logits closer than this fraction of the spread count as tied between kvfn's reference transformer and
     * its engine; there the free-running comparison ends. Why this size: for Q4_0 and the K-quants a one-token step
     * rounds x to 11-bit integers per 32 values ({@code Int16Input}) while the engine's batched steps multiply
     * floats; on this test's models a last-position logit differs between the two paths by up to 1.7e-3 of the
     * spread (measured over 20 random prompts for llama, qwen3 and phi3 in Q4_0, Q4_K, Q6_K), so two logits can
     * swap within about 3.4e-3. (Float types: other summation orders only, differences of order 1e-6.)
     */
    static final double ENGINE_TIE = 5e-3;
    /**
     * kvfn's compute threads, like llama.cpp's: these models are too small to split, and on a 2-core CI machine
     * spinning workers only triple the CPU time (thread-count independence is {@link TransformerTest}'s to check).
     */
    static final int KVFN_THREADS = 1;

    /** Where a case's GGUF comes from: written into {@code dir} (a synthetic model) or found (a shared model). */
    @FunctionalInterface
    interface ModelSource {
        Path model(Path dir) throws Exception;
    }

    /**
     * One comparison: {@code arch} and {@code type} name it (with the shape), {@code tolerance} bounds the
     * relative logit error (see above), {@code source} provides the GGUF.
     */
    record ParityCase(String arch, GgmlType type, String shape, double tolerance, ModelSource source) {
        static final long SEED = 12;

        /** Writes a synthetic model of one architecture (same signature as {@link SyntheticModel#write}). */
        @FunctionalInterface
        interface SyntheticWriter {
            void write(Shape shape, GgmlType type, long seed, Path out) throws Exception;
        }

        static ParityCase llama(GgmlType type, Shape shape, double tolerance) {
            return synthetic("llama", type, shape, tolerance, SyntheticModel::write);
        }

        /** A synthetic model of any architecture, written by {@code writer} with the fixed {@link #SEED}. */
        static ParityCase synthetic(String arch, GgmlType type, Shape shape, double tolerance, SyntheticWriter writer) {
            return new ParityCase(arch, type, shape.name(), tolerance, dir -> {
                Path out = dir.resolve(arch + "-" + SyntheticModel.modelName(shape, type) + ".gguf");
                writer.write(shape, type, SEED, out);
                return out;
            });
        }

        /** A llama synthetic model in a mixture of types (named by its base type plus the mixture's file name). */
        static ParityCase mixture(WeightTypes types, Shape shape, double tolerance) {
            return new ParityCase("llama", types.base(), shape.name() + " " + types.name(), tolerance, dir -> {
                Path out = dir.resolve("llama-" + SyntheticModel.modelName(shape, types) + ".gguf");
                SyntheticModel.write(shape, types, SEED, out);
                return out;
            });
        }

        /** A model from ../shared/models (skipped, not failed, where that folder is absent, as in all model tests). */
        static ParityCase sharedModel(String arch, String file, double tolerance) {
            return new ParityCase(arch, null, file, tolerance, dir -> SharedModels.file(file));
        }

        String name() {
            return arch + " " + (type == null ? "" : type + " ") + shape;
        }
    }

    @TempDir
    static Path dir;

    /** Per case: its model file, or why it is skipped. */
    private static final Map<ParityCase, Path> models = new LinkedHashMap<>();
    private static final Map<ParityCase, String> skipped = new LinkedHashMap<>();
    private static Map<ParityCase, LlamaCppReference.ModelAnswer> answers;
    private static WorkerPool pool;
    /** Why llama.cpp cannot run here (no Node, or the package not installed), or null. */
    private static String unavailable;

    @BeforeAll
    static void askLlamaCpp() throws Exception {
        try {
            LlamaCppReference.requireInstalled(); // fails with CI=true
        } catch (TestAbortedException e) {
            // skipped case by case below, so the report shows every case skipped with the reason, not zero tests
            unavailable = e.getMessage();
            System.out.println("[llama.cpp parity] skipped: " + unavailable);
            return;
        }
        pool = new WorkerPool(KVFN_THREADS);
        List<LlamaCppReference.ModelRequest> requests = new ArrayList<>();
        for (ParityCase c : CASES) {
            Path model;
            try {
                model = c.source().model(dir);
            } catch (TestAbortedException e) {
                skipped.put(c, e.getMessage());
                continue;
            }
            models.put(c, model);
            CpuModel m = CpuModel.load(model, null, Integer.MAX_VALUE, pool);
            try {
                requests.add(new LlamaCppReference.ModelRequest(c.name(), model, m.config().contextLength(), promptsFor(m),
                        STEPS, TEXTS));
            } finally {
                m.mapping().close();
            }
        }
        long started = System.nanoTime();
        var answer = LlamaCppReference.run(requests, 1, dir);
        System.out.printf("[llama.cpp parity] reference: %s; %d models in %.1f s%n", answer.build(), requests.size(),
                (System.nanoTime() - started) / 1e9);
        answers = new LinkedHashMap<>();
        int i = 0;
        for (ParityCase c : models.keySet()) answers.put(c, answer.models().get(i++));
    }

    @AfterAll
    static void closePool() {
        if (pool != null) pool.close();
    }

    /**
     * The prompts, as token ids both sides get verbatim: the first two texts as kvfn tokenizes them (BOS added), and
     * 20 random ids from the upper half of the vocabulary after BOS (away from control and byte tokens), from a
     * fixed seed.
     */
    static List<int[]> promptsFor(CpuModel m) {
        List<int[]> out = new ArrayList<>();
        out.add(m.tokenizer().encode(TEXTS.get(0), true, false));
        out.add(m.tokenizer().encode(TEXTS.get(1), true, false));
        int[] bos = m.tokenizer().encode("", true, false);
        int vocab = m.config().vocab();
        SplittableRandom random = new SplittableRandom(7);
        int[] p = Arrays.copyOf(bos, bos.length + 20);
        for (int i = bos.length; i < p.length; i++) p[i] = vocab / 2 + random.nextInt(vocab - vocab / 2);
        out.add(p);
        return out;
    }

    @TestFactory
    Stream<DynamicTest> kvfnAgreesWithLlamaCpp() {
        return CASES.stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            Assumptions.assumeTrue(unavailable == null, () -> unavailable);
            Assumptions.assumeTrue(!skipped.containsKey(c), () -> skipped.get(c));
            check(c, models.get(c), answers.get(c));
        }));
    }

    private static void check(ParityCase c, Path model, LlamaCppReference.ModelAnswer reference) throws Exception {
        long started = System.nanoTime(), cpuStarted = processCpuNanos();
        assertEquals(c.name(), reference.name());
        StringBuilder report = new StringBuilder("[llama.cpp parity] " + c.name() + ": ");
        CpuModel m = CpuModel.load(model, null, Integer.MAX_VALUE, pool);
        try {
            assertEquals(m.config().vocab(), reference.vocab(), c.name() + ": vocabulary size");
            checkTokenizer(c, m, reference);
            List<Forced> forced = new ArrayList<>();
            for (int i = 0; i < reference.prompts().size(); i++) {
                forced.add(teacherForced(c, m, i, reference.prompts().get(i)));
            }
            double worst = forced.stream().mapToDouble(Forced::worstError).max().orElseThrow();
            report.append(String.format("logits max rel. error %.2e (tolerance %.2g) over %d prompts x %d steps; ",
                    worst, c.tolerance(), forced.size(), STEPS));
            report.append("teacher-forced near ties where kvfn chose another token (prompt: steps) ");
            for (int i = 0; i < forced.size(); i++) report.append(i).append(": ").append(forced.get(i).disagreements()).append(' ');
            report.append("; ");
            int[] compared = freeRunning(c, model, reference, forced);
            report.append("free-running tokens equal ").append(Arrays.toString(compared)).append(" of ").append(STEPS);
        } finally {
            m.mapping().close();
        }
        System.out.println(report.append(String.format(" (kvfn: %.1f s, %.1f s CPU)", (System.nanoTime() - started) / 1e9,
                (processCpuNanos() - cpuStarted) / 1e9)));
    }

    /**
     * The result of one teacher-forced prompt: the largest relative logit error, the steps where kvfn's argmax was
     * not llama.cpp's token (near ties), the steps the free-running engine skips (ties) and those where llama.cpp's
     * token ends a generation (ends: the engine stops there, llama.cpp's fixed-length greedy run goes on).
     */
    record Forced(double worstError, List<Integer> disagreements, List<Integer> ties, List<Integer> ends) {}

    /**
     * kvfn's transformer (f32 K/V, as llama.cpp runs here) fed the prompt and then llama.cpp's own greedy tokens:
     * every step's logits are compared, and kvfn's argmax must be llama.cpp's token except at a near tie.
     */
    private static Forced teacherForced(ParityCase c, CpuModel m, int promptIndex, LlamaCppReference.Greedy ref) {
        assertEquals(STEPS, ref.tokens().length);
        assertEquals(STEPS, ref.logprobs().size());
        var t = new Transformer(m.config(), m.weights(), pool);
        var kv = ContiguousKv.forModel(m.config());
        int[] prompt = ref.prompt();
        float[] logits = Prefill.forward(t, prompt, 0, prompt.length, 0, kv);
        double worst = 0;
        List<Integer> disagreements = new ArrayList<>();
        List<Integer> ties = new ArrayList<>();
        List<Integer> ends = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) {
            String where = c.name() + ", prompt " + promptIndex + ", step " + s;
            Step step = compare(logits, ref.logprobs().get(s));
            worst = Math.max(worst, step.relError());
            if (step.relError() > c.tolerance()) {
                fail(where + ": logits differ from llama.cpp by " + String.format("%.3e", step.relError())
                        + " of their spread (tolerance " + c.tolerance() + "), worst at token " + step.worstToken()
                        + " (kvfn " + step.kvfnAt() + ", llama.cpp " + step.referenceAt() + ", centred)");
            }
            int mine = Sampler.argmax(logits, logits.length), theirs = ref.tokens()[s];
            if (mine != theirs) {
                double gap = logits[mine] - logits[theirs];
                assertTrue(gap <= nearTieGap(step, c.tolerance()), where + ": kvfn's greedy token " + mine
                        + " is not llama.cpp's " + theirs + " and they are no near tie (kvfn's logits " + logits[mine]
                        + " vs " + logits[theirs] + ", gap " + gap + " > " + nearTieGap(step, c.tolerance()) + ")");
                disagreements.add(s);
            }
            // the engine must follow llama.cpp wherever kvfn's reference transformer does, unless its own top two are
            // so close that the engine's other (paged, batched) summation order may legitimately swap them
            if (mine != theirs || topGap(logits) <= ENGINE_TIE * step.spread()) ties.add(s);
            else if (m.tokenizer().isEndOfGeneration(theirs)) ends.add(s);
            logits = Prefill.forward(t, ref.tokens(), s, 1, prompt.length + s, kv);
        }
        return new Forced(worst, disagreements, ties, ends);
    }

    /** One step's comparison: the relative error and where it is worst. */
    record Step(double relError, double spread, int worstToken, double kvfnAt, double referenceAt) {}

    /**
     * Compares logits up to a constant (both centred on their mean over the tokens llama.cpp's float softmax did
     * not underflow, about 87 below the top, which no tolerance here reaches); a token that underflowed there must
     * be at least 60 below kvfn's top too.
     */
    static Step compare(float[] logits, double[] referenceLogprobs) {
        assertEquals(referenceLogprobs.length, logits.length, "vocabulary size");
        double top = Double.NEGATIVE_INFINITY;
        for (float x : logits) top = Math.max(top, x);
        double sumA = 0, sumB = 0;
        int n = 0;
        for (int i = 0; i < logits.length; i++) {
            if (referenceLogprobs[i] == Double.NEGATIVE_INFINITY) {
                assertTrue(logits[i] < top - 60, "token " + i + " has probability 0 in llama.cpp but logit " + logits[i]
                        + " within 60 of kvfn's top " + top);
                continue;
            }
            sumA += logits[i];
            sumB += referenceLogprobs[i];
            n++;
        }
        double meanA = sumA / n, meanB = sumB / n, sq = 0, worst = -1, worstA = 0, worstB = 0;
        int worstToken = -1;
        for (int i = 0; i < logits.length; i++) {
            if (referenceLogprobs[i] == Double.NEGATIVE_INFINITY) continue;
            double a = logits[i] - meanA, b = referenceLogprobs[i] - meanB;
            sq += a * a;
            if (Math.abs(a - b) > worst) {
                worst = Math.abs(a - b);
                worstToken = i;
                worstA = a;
                worstB = b;
            }
        }
        double spread = Math.sqrt(sq / n);
        assertTrue(spread > 0, "kvfn's logits are all equal");
        return new Step(worst / spread, spread, worstToken, worstA, worstB);
    }

    /**
     * Near tie: if every logit may differ from llama.cpp's by at most {@code tolerance * spread}, two tokens whose
     * kvfn logits are closer than twice that can come out in either order, and only then may greedy tokens differ.
     */
    static double nearTieGap(Step step, double tolerance) {
        return 2 * tolerance * step.spread();
    }

    /** kvfn's margin between its best two logits. */
    static double topGap(float[] logits) {
        float first = Float.NEGATIVE_INFINITY, second = Float.NEGATIVE_INFINITY;
        for (float x : logits) {
            if (x > first) {
                second = first;
                first = x;
            } else if (x > second) {
                second = x;
            }
        }
        return first - second;
    }

    /** A stretch of llama.cpp's greedy tokens, {@code [from, from + length)}, between two ties or ends. */
    record Segment(int prompt, int from, int length) {}

    /**
     * The whole engine, greedy and free-running: between two ties (the steps where kvfn's reference transformer chose
     * another token than llama.cpp, or had its own top two within {@link #ENGINE_TIE}) it must generate exactly
     * llama.cpp's tokens. Each stretch starts from the prompt plus llama.cpp's tokens before it (so one near tie
     * does not end the comparison) and all stretches of all prompts run at once (batched decode, shared prefixes
     * from the prefix cache). A stretch also ends with an end-of-generation token of llama.cpp's (the engine must
     * produce it and stop; the next stretch starts after it). At least {@link #MIN_FREE_RUN_TOKENS} tokens per prompt
     * must be compared this way.
     */
    private static int[] freeRunning(ParityCase c, Path model, LlamaCppReference.ModelAnswer reference, List<Forced> forced)
            throws Exception {
        List<Segment> segments = new ArrayList<>();
        for (int i = 0; i < forced.size(); i++) {
            Forced f = forced.get(i);
            int from = 0;
            for (int s = 0; s < STEPS; s++) {
                if (f.ties().contains(s)) {
                    if (s > from) segments.add(new Segment(i, from, s - from));
                    from = s + 1;
                } else if (f.ends().contains(s)) {
                    segments.add(new Segment(i, from, s + 1 - from));
                    from = s + 1;
                }
            }
            if (STEPS > from) segments.add(new Segment(i, from, STEPS - from));
        }
        // f32 K/V as on the llama.cpp side; a small pool (the default takes a share of the machine's memory)
        var options = EngineOptions.defaults(KVFN_THREADS).withKv(KvElementType.F32, 16).withPoolBytes(32L << 20);
        int[] compared = new int[reference.prompts().size()];
        try (CpuEngine engine = CpuEngine.load(model, null, options)) {
            List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
            for (Segment seg : segments) {
                var ref = reference.prompts().get(seg.prompt());
                int[] prompt = Arrays.copyOf(ref.prompt(), ref.prompt().length + seg.from());
                System.arraycopy(ref.tokens(), 0, prompt, ref.prompt().length, seg.from());
                results.add(engine.submit(new GenerationRequest(prompt, seg.length(), SamplingParams.GREEDY), null).result());
            }
            for (int k = 0; k < segments.size(); k++) {
                Segment seg = segments.get(k);
                int[] mine = results.get(k).get(5, TimeUnit.MINUTES).tokens();
                int[] theirs = Arrays.copyOfRange(reference.prompts().get(seg.prompt()).tokens(), seg.from(), seg.from() + seg.length());
                assertArrayEquals(theirs, mine, c.name() + ", prompt " + seg.prompt() + ": kvfn's engine generates other tokens"
                        + " than llama.cpp from step " + seg.from() + " on, before the next near tie (step " + (seg.from() + seg.length())
                        + "): kvfn " + Arrays.toString(mine) + ", llama.cpp " + Arrays.toString(theirs));
                compared[seg.prompt()] += seg.length();
            }
        }
        for (int i = 0; i < compared.length; i++) {
            assertTrue(compared[i] >= MIN_FREE_RUN_TOKENS, c.name() + ", prompt " + i + ": near ties at steps " + forced.get(i).ties()
                    + " leave " + compared[i] + " tokens to compare free-running, fewer than " + MIN_FREE_RUN_TOKENS
                    + ": choose other prompts");
        }
        return compared;
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    private static void checkTokenizer(ParityCase c, CpuModel m, LlamaCppReference.ModelAnswer reference) {
        for (var t : reference.texts()) {
            assertArrayEquals(t.tokens(), m.tokenizer().encode(t.text(), false, false),
                    c.name() + ": tokens of \"" + t.text() + "\" (special tokens as text) differ from llama.cpp's");
            assertArrayEquals(t.tokensParsingSpecial(), m.tokenizer().encode(t.text(), false, true),
                    c.name() + ": tokens of \"" + t.text() + "\" (special tokens parsed) differ from llama.cpp's");
        }
    }
}
