package dev.kvfn.engine.cpu;

import dev.kvfn.engine.FinishReason;
import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.GenerationResult;
import dev.kvfn.engine.SamplingParams;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Greedy output of stories260K against the llama2.c / llama.cpp reference in shared/models/README.md. */
class ReferenceOutputTest {
    /** From shared/models/README.md: BOS + "Once upon a time", temperature 0, 96 positions in all. */
    static final String REFERENCE = """
            Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.
            Lily's mom said, "Lily, let's go to the park." Lily was sad and didn't""";
    static final int POSITIONS = 96;
    /**
     * run.c's "steps": it runs the model at positions 0..95 and prints the token sampled at each,
     * so the sequence ends with one token (at position 96) that is never fed back.
     */
    static int completionTokens(int[] prompt) {
        return POSITIONS - prompt.length + 1;
    }

    static GenerationResult greedy(CpuEngine engine, int[] prompt) throws Exception {
        var request = new GenerationRequest(prompt, completionTokens(prompt), SamplingParams.GREEDY);
        return engine.submit(request, null).result().get(60, TimeUnit.SECONDS);
    }

    @Test
    void llama2cCheckpointReproducesTheReferenceText() throws Exception {
        Path bin = SharedModels.file("stories260K.bin"), tok = SharedModels.file("tok512.bin");
        try (CpuEngine engine = CpuEngine.load(bin, tok, 2)) {
            int[] prompt = engine.tokenizer().encode("Once upon a time", true, false);
            assertEquals(Llama2cTokenizer.BOS, prompt[0]);
            GenerationResult r = greedy(engine, prompt);
            int[] all = IntStream.concat(Arrays.stream(prompt), Arrays.stream(r.tokens())).toArray();
            assertEquals(REFERENCE, engine.tokenizer().decode(all));
            assertEquals(FinishReason.LENGTH, r.finishReason());
            assertEquals(completionTokens(prompt), r.completionTokens());
            // the streamed/result text is the completion only: the reference minus the prompt
            assertEquals(REFERENCE.substring("Once upon a time".length()), r.text());
        }
    }

    @Test
    void ggufOfTheSameWeightsProducesTheSameTokens() throws Exception {
        Path bin = SharedModels.file("stories260K.bin"), tok = SharedModels.file("tok512.bin");
        Path gguf = SharedModels.file("stories260K.gguf");
        int[] fromBin, fromGguf;
        LlamaConfig binConfig, ggufConfig;
        try (CpuEngine engine = CpuEngine.load(bin, tok, 1)) {
            int[] prompt = engine.tokenizer().encode("Once upon a time", true, false);
            fromBin = greedy(engine, prompt).tokens();
            binConfig = engine.config();
        }
        // the GGUF's own vocabulary is the same 512 pieces; the llama2.c tokenizer gives the prompt ids
        try (CpuEngine engine = CpuEngine.load(gguf, tok, 1)) {
            int[] prompt = engine.tokenizer().encode("Once upon a time", true, false);
            fromGguf = greedy(engine, prompt).tokens();
            ggufConfig = engine.config();
        }
        assertEquals(binConfig.dim(), ggufConfig.dim());
        assertEquals(binConfig.kvHeads(), ggufConfig.kvHeads());
        assertEquals(binConfig.hiddenDim(), ggufConfig.hiddenDim());
        assertArrayEquals(fromBin, fromGguf);
    }
}
