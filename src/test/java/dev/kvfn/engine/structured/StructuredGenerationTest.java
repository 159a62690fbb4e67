package dev.kvfn.engine.structured;

import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.Generation;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.engine.cpu.CpuEngine;
import dev.kvfn.engine.cpu.EngineOptions;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Constrained decoding end to end in the CPU engine: 100 generations per model (greedy and sampled with varied
 * seeds) against {@link SchemaCheck#SCHEMAS}, each output parsed and validated by an independent validator, on
 * the real stories260K and on a synthetic model with a 32000-token vocabulary. Without the constraint the same
 * requests fail validation, so the check can fail; preemption does not change a constrained output.
 */
class StructuredGenerationTest {
    static final int GENERATIONS = 100;
    /** A synthetic model with a Llama-sized vocabulary and a tiny body: its masks are the ones a real 32k model needs. */
    static final SyntheticModel.Shape VOCAB_32K = new SyntheticModel.Shape("json-32k", 64, 2, 4, 2, 128, 256, 32000, 10000f, 1e-5f);
    private static Path synthetic;

    static Path stories() {
        String dir = System.getProperty("kvfn.shared.models");
        Assumptions.assumeTrue(dir != null, "system property kvfn.shared.models is not set: model tests skipped");
        Path p = Path.of(dir).resolve("stories260K.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(p), p + " is absent: model tests skipped");
        return p;
    }

    static synchronized Path synthetic32k() throws IOException {
        if (synthetic == null) {
            synthetic = Files.createTempFile("kvfn-json-32k-", ".gguf");
            SyntheticModel.write(VOCAB_32K, GgmlType.F32, 7, synthetic);
        }
        return synthetic;
    }

    @AfterAll
    static void removeSynthetic() throws IOException {
        if (synthetic != null) Files.deleteIfExists(synthetic);
    }

    static CpuEngine engine(Path model, EngineOptions o) {
        return CpuEngine.load(model, null, o);
    }

    static EngineOptions base() {
        return EngineOptions.defaults(2).withKv(KvElementType.F32, 16);
    }

    record Run(String schema, GenerationRequest request) {}

    /** {@value #GENERATIONS} requests over the schemas: per schema one greedy, the rest sampled at varied seeds and temperatures. */
    static List<Run> runs(CpuEngine e, String prompt, boolean constrained, int maxTokens) {
        int[] tokens = e.tokenizer().encode(prompt);
        maxTokens = Math.min(maxTokens, e.model().contextLength() - tokens.length);
        List<Run> runs = new ArrayList<>();
        for (int i = 0; i < GENERATIONS; i++) {
            String schema = SchemaCheck.SCHEMAS.get(i % SchemaCheck.SCHEMAS.size());
            SamplingParams sampling = i < SchemaCheck.SCHEMAS.size() ? SamplingParams.GREEDY
                    : new SamplingParams(0.7f + (i % 4) * 0.2f, i % 3 == 0 ? 40 : 0, i % 5 == 0 ? 0.9f : 1f, 0f, 1000 + i);
            var request = new GenerationRequest(tokens, maxTokens, sampling);
            if (constrained) request = request.withConstraint(StructuredOutput.jsonSchema(SchemaCheck.parse(schema), e.tokenizer()));
            runs.add(new Run(schema, request));
        }
        return runs;
    }

    static List<GenerationResult> generate(CpuEngine e, List<Run> runs) throws Exception {
        List<Generation> gens = new ArrayList<>();
        for (Run r : runs) gens.add(e.submit(r.request(), null));
        List<GenerationResult> out = new ArrayList<>();
        for (Generation g : gens) out.add(g.result().get(600, TimeUnit.SECONDS));
        return out;
    }

    static void assertAllValid(CpuEngine e, String prompt) throws Exception {
        List<Run> runs = runs(e, prompt, true, Integer.MAX_VALUE);
        List<GenerationResult> results = generate(e, runs);
        List<String> problems = new ArrayList<>();
        Set<String> distinct = new HashSet<>();
        for (int i = 0; i < runs.size(); i++) {
            GenerationResult r = results.get(i);
            if (r.finishReason() != FinishReason.STOP) problems.add("#" + i + " ended by " + r.finishReason() + ": " + r.text());
            for (String p : SchemaCheck.problems(runs.get(i).schema(), r.text())) problems.add("#" + i + " " + p);
            distinct.add(r.text());
        }
        assertEquals(List.of(), problems, "every constrained output is a complete, valid instance of its schema");
        assertTrue(distinct.size() > GENERATIONS / 2, "sampling with varied seeds gives varied outputs: " + distinct.size() + " distinct");
    }

    @Test
    void storiesOutputsAreValidJsonForEverySchema() throws Exception {
        try (var e = engine(stories(), base())) {
            assertAllValid(e, "Once upon a time");
        }
    }

    @Test
    void synthetic32kOutputsAreValidJsonForEverySchema() throws Exception {
        try (var e = engine(synthetic32k(), base())) {
            assertAllValid(e, "Describe it as JSON:");
        }
    }

    /** The control: the same requests without the mask do not validate, so the checks above can fail. */
    @Test
    void withoutTheMaskTheTinyModelsOutputsAreNotValid() throws Exception {
        try (var e = engine(stories(), base())) {
            List<Run> runs = runs(e, "Once upon a time", false, 48).subList(0, 12);
            List<GenerationResult> results = generate(e, runs);
            int valid = 0;
            for (int i = 0; i < runs.size(); i++) if (SchemaCheck.problems(runs.get(i).schema(), results.get(i).text()).isEmpty()) valid++;
            assertEquals(0, valid, "unconstrained story text is not JSON");
        }
    }

    @Test
    void anyJsonObjectIsAnObject() throws Exception {
        try (var e = engine(stories(), base())) {
            int[] prompt = e.tokenizer().encode("Once upon a time");
            for (int seed = 0; seed < 2; seed++) {
                var r = e.submit(new GenerationRequest(prompt, 80, new SamplingParams(0.8f, 0, 1f, 0f, seed))
                        .withConstraint(StructuredOutput.jsonObject(e.tokenizer())), null).result().get(300, TimeUnit.SECONDS);
                if (r.finishReason() == FinishReason.STOP) {
                    assertTrue(SchemaCheck.parse(r.text()).isObject(), r.text());
                } else {
                    assertTrue(r.text().trim().startsWith("{"), "cut short by max tokens, but an object so far: " + r.text());
                }
            }
        }
    }

    /** Recomputing a preempted sequence samples nothing, so its cursor stays right: the tokens are those of a roomy pool. */
    @Test
    void preemptionDoesNotChangeConstrainedOutputs() throws Exception {
        Path model = stories();
        List<int[]> expected = new ArrayList<>();
        List<Run> runs;
        try (var e = engine(model, base())) {
            runs = runs(e, "Once upon a time there was", true, 48).subList(0, 8);
            for (Run r : runs) expected.add(e.submit(r.request(), null).result().get(300, TimeUnit.SECONDS).tokens());
        }
        long block;
        try (var probe = engine(model, base())) {
            block = probe.kvLayout().blockBytes();
        }
        try (var e = engine(model, base().withPoolBytes(12 * block).withScheduler(64, 8, 64))) {
            List<GenerationResult> results = generate(e, runs);
            for (int i = 0; i < runs.size(); i++) assertArrayEquals(expected.get(i), results.get(i).tokens(), "request " + i);
            assertTrue(e.stats().scheduler().preemptions() > 0, "the pool was small enough to force preemption: " + e.stats());
        }
    }
}
