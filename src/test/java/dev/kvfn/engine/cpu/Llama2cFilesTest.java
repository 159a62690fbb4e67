package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.Llama2cCheckpoint;
import dev.kvfn.model.ModelFormatException;
import dev.kvfn.model.Tensor;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading llama2.c files: header, tensors, tokenizer, and clear failures for bad files. */
class Llama2cFilesTest {
    @TempDir
    Path tmp;

    @Test
    void headerAndTensorsOfStories260K() {
        try (var c = Llama2cCheckpoint.open(SharedModels.file("stories260K.bin"))) {
            assertEquals(new Llama2cCheckpoint.Header(64, 172, 5, 8, 4, 512, 512, true), c.header());
            assertFalse(c.tensors().containsKey("output.weight"), "shared classifier: no separate output");
            Tensor wk = c.tensors().get("blk.4.attn_k.weight");
            assertArrayEquals(new long[] {64, 32}, wk.shape());
            assertArrayEquals(new long[] {172, 64}, c.tensors().get("blk.0.ffn_down.weight").shape());
            LlamaConfig config = LlamaConfig.fromLlama2c(c.header());
            assertEquals(8, config.headSize());
            assertEquals(32, config.kvDim());
            assertTrue(config.tiedOutput());
        }
    }

    @Test
    void missingCheckpointNamesTheFile() {
        Path missing = tmp.resolve("nope.bin");
        Path tokenizer = SharedModels.file("tok512.bin"); // skips (outside assertThrows) where the shared models are absent
        var e = assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.open(missing));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        var viaEngine = assertThrows(ModelFormatException.class,
                () -> CpuEngine.load(missing, tokenizer, 1));
        assertTrue(viaEngine.getMessage().contains(missing.toString()), viaEngine.getMessage());
    }

    @Test
    void truncatedCheckpointNamesTheFileAndTheSizes() throws IOException {
        byte[] full = Files.readAllBytes(SharedModels.file("stories260K.bin"));
        Path cut = tmp.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(full, full.length - 1000));
        var e = assertThrows(ModelFormatException.class, () -> CpuEngine.load(cut, SharedModels.file("tok512.bin"), 1));
        assertTrue(e.getMessage().startsWith(cut.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains(String.valueOf(full.length)), e.getMessage());

        Path headerOnly = tmp.resolve("header.bin");
        Files.write(headerOnly, Arrays.copyOf(full, 20));
        var h = assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.open(headerOnly));
        assertTrue(h.getMessage().contains(headerOnly.toString()) && h.getMessage().contains("truncated"), h.getMessage());
    }

    @Test
    void implausibleHeaderIsRefused() throws IOException {
        Path junk = tmp.resolve("junk.bin");
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(64).putInt(172).putInt(5).putInt(7).putInt(4).putInt(512).putInt(512); // 7 heads do not divide 64
        Files.write(junk, b.array());
        var e = assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.open(junk));
        assertTrue(e.getMessage().contains(junk.toString()) && e.getMessage().contains("n_heads 7"), e.getMessage());
    }

    @Test
    void missingOrMisshapenTensorFailsLoadingWithItsName() {
        Path bin = SharedModels.file("stories260K.bin");
        try (var c = Llama2cCheckpoint.open(bin); var pool = new WorkerPool(1)) {
            LlamaConfig config = LlamaConfig.fromLlama2c(c.header());
            var tensors = new HashMap<>(c.tensors());
            tensors.remove("blk.2.ffn_up.weight");
            var missing = assertThrows(ModelFormatException.class, () -> LlamaWeights.load(config, tensors, bin, pool));
            assertEquals(bin + ": missing tensor blk.2.ffn_up.weight", missing.getMessage());

            tensors.put("blk.2.ffn_up.weight", c.tensors().get("blk.2.ffn_down.weight"));
            var shape = assertThrows(ModelFormatException.class, () -> LlamaWeights.load(config, tensors, bin, pool));
            assertTrue(shape.getMessage().contains("blk.2.ffn_up.weight has shape [172, 64], expected [64, 172]"),
                    shape.getMessage());
        }
    }

    @Test
    void tokenizerEncodesLikeRunC() {
        var tok = Llama2cTokenizer.load(SharedModels.file("tok512.bin"));
        assertEquals(512, tok.vocabSize());
        int[] ids = tok.encode("Once upon a time", true, false);
        assertEquals(Llama2cTokenizer.BOS, ids[0]);
        // dummy prefix: the first word carries its leading space, so decoding after BOS drops it again
        assertTrue(tok.piece(ids[1]).startsWith(" "), tok.piece(ids[1]));
        assertEquals("Once upon a time", tok.decode(ids));
        // characters outside the 512 pieces fall back to byte tokens (byte + 3) and decode back exactly
        String rare = "Zoë 😀 says hi";
        int[] rareIds = tok.encode(rare, false, false);
        assertTrue(Arrays.stream(rareIds).anyMatch(t -> t == (0xF0 + 3)), Arrays.toString(rareIds));
        assertEquals(" " + rare, tok.decode(rareIds));
        assertEquals(" " + rare, new String(concatBytes(tok, rareIds), java.nio.charset.StandardCharsets.UTF_8));
        // merges: far fewer tokens than bytes for ordinary English
        int[] plain = tok.encode("The little girl was happy.", false, false);
        assertTrue(plain.length < 14, Arrays.toString(plain));
        // special text is parsed only when asked
        assertArrayEquals(new int[] {1, 2}, Arrays.copyOf(tok.encode("<s></s>", false, true), 2));
        assertFalse(Arrays.stream(tok.encode("<s>", false, false)).anyMatch(t -> t == 1));
        assertTrue(tok.isEndOfGeneration(Llama2cTokenizer.EOS));
        assertEquals(0, tok.tokenBytes(Llama2cTokenizer.BOS).length);
    }

    private static byte[] concatBytes(Llama2cTokenizer tok, int[] ids) {
        var out = new java.io.ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(tok.tokenBytes(id));
        return out.toByteArray();
    }

    @Test
    void badTokenizerFilesNameTheFile() throws IOException {
        Path missing = tmp.resolve("missing-tok.bin");
        var e = assertThrows(ModelFormatException.class, () -> Llama2cTokenizer.load(missing));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        byte[] full = Files.readAllBytes(SharedModels.file("tok512.bin"));
        Path cut = tmp.resolve("cut-tok.bin");
        Files.write(cut, Arrays.copyOf(full, full.length - 3));
        var t = assertThrows(ModelFormatException.class, () -> Llama2cTokenizer.load(cut));
        assertTrue(t.getMessage().contains(cut.toString()), t.getMessage());
    }
}
