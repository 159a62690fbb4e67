package dev.kvfn.bench.suite;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.SyntheticModel;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class PromptTest {

    @Test
    void wordPromptsHaveExactlyTheAskedLengthAndTheirTextEncodesToTheirIds() throws Exception {
        try (GgufFile gguf = GgufFile.open(SyntheticModel.tinyTempFile())) {
            Tokenizer tokenizer = Tokenizers.fromGguf(gguf);
            List<String> words = Prompt.wordPieces(tokenizer);
            SplittableRandom rnd = new SplittableRandom(3);
            for (int length : new int[] {2, 17, 128}) {
                Prompt p = Prompt.words(tokenizer, words, rnd, length);
                assertEquals(length, p.length());
                assertEquals(tokenizer.bos(), p.tokens()[0]);
                assertArrayEquals(p.tokens(), tokenizer.encode(p.text()));
            }
            // fresh words every call: two prompts share no first block
            assertNotEquals(Prompt.words(tokenizer, words, rnd, 32).text(), Prompt.words(tokenizer, words, rnd, 32).text());
        }
    }
}
