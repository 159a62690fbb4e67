package dev.kvfn.engine.trtllm;

import dev.kvfn.model.SyntheticModel;
import dev.kvfn.tokenizer.HfTokenizer;
import dev.kvfn.tokenizer.HfTokenizerFixture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kvfn.trtllm.vocabulary}: a Hugging Face checkpoint directory or a GGUF file. */
class TrtllmVocabularyTest {
    @TempDir
    Path dir;

    @Test
    void aCheckpointDirectoryGivesItsTokenizerAndChatTemplate() throws Exception {
        HfTokenizerFixture.write(dir);
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"]}"); // a checkpoint has more files
        TrtllmEngineFactory.Vocabulary v = TrtllmEngineFactory.vocabulary(dir);
        assertInstanceOf(HfTokenizer.class, v.tokenizer());
        assertEquals(HfTokenizerFixture.TEMPLATE, v.chatTemplate());
        assertArrayEquals(new int[] {HfTokenizerFixture.BOS, HfTokenizerFixture.HELLO}, v.tokenizer().encode("hello"));
        assertEquals(32, v.digest().length);
        // the digest follows the tokenizer files, so another tokenizer never shares cached blocks
        HfTokenizerFixture.write(dir.resolve("other"), t -> { }, c -> c.put("add_bos_token", false));
        assertFalse(java.util.Arrays.equals(v.digest(), TrtllmEngineFactory.vocabulary(dir.resolve("other")).digest()));
    }

    @Test
    void aGgufFileStillWorks() throws Exception {
        TrtllmEngineFactory.Vocabulary v = TrtllmEngineFactory.vocabulary(SyntheticModel.tinyTempFile());
        assertFalse(v.tokenizer() instanceof HfTokenizer);
        assertTrue(v.tokenizer().vocabSize() > 0);
    }

    @Test
    void aDirectoryWithoutTokenizerJsonOrAMissingPathIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> TrtllmEngineFactory.vocabulary(dir));
        assertTrue(e.getMessage().contains("without tokenizer.json"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrtllmEngineFactory.vocabulary(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("no such file or directory"), e.getMessage());
    }
}
