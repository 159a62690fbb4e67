package dev.kvfn.engine.cpu;

import dev.kvfn.engine.ModelInfo;
import dev.kvfn.engine.cpu.kernel.WorkerPool;
import dev.kvfn.model.GgufFile;
import dev.kvfn.model.Llama2cCheckpoint;
import dev.kvfn.model.ModelFingerprint;
import dev.kvfn.tokenizer.Llama2cTokenizer;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A loaded model: its weights mapped from the file (never copied onto the heap), its tokenizer,
 * shape and fingerprint. GGUF and llama2.c checkpoints are told apart by the GGUF magic, and a file
 * is opened once.
 *
 * @param mapping   what keeps the weights mapped; closed with the engine
 * @param fileBytes the model file's size (the KV pool is sized around it)
 */
public record CpuModel(ModelInfo info, Tokenizer tokenizer, LlamaConfig config, LlamaWeights weights, AutoCloseable mapping,
                       ModelFingerprint fingerprint, long fileBytes) {

    public CpuModel {
        if (tokenizer.vocabSize() != config.vocab()) {
            throw new IllegalArgumentException(info.source() + ": the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the model's vocabulary is " + config.vocab());
        }
    }

    /**
     * Loads a GGUF or a llama2.c checkpoint, its context cut to {@code contextLimit} positions. A llama2.c
     * checkpoint needs its {@code tokenizer.bin}; for a GGUF a non-null {@code tokenizerOrNull} (llama2.c
     * format) replaces the embedded vocabulary.
     */
    public static CpuModel load(Path model, Path tokenizerOrNull, int contextLimit, WorkerPool workers) {
        if (GgufFile.isGguf(model)) {
            GgufFile gguf = GgufFile.open(model);
            try {
                Tokenizer tok = tokenizerOrNull == null ? Tokenizers.fromGguf(gguf) : Llama2cTokenizer.load(tokenizerOrNull);
                return fromGguf(gguf, model.toString(), tok, contextLimit, workers);
            } catch (RuntimeException e) {
                gguf.close();
                throw e;
            }
        }
        if (tokenizerOrNull == null) {
            throw new IllegalArgumentException(model + ": a llama2.c checkpoint needs its tokenizer.bin; none was given (kvfn.model.tokenizer / KVFN_MODEL_TOKENIZER)");
        }
        Llama2cTokenizer tok = Llama2cTokenizer.load(tokenizerOrNull);
        Llama2cCheckpoint checkpoint = Llama2cCheckpoint.open(model);
        try {
            LlamaConfig config = LlamaConfig.fromLlama2c(checkpoint.header()).withContextLength(contextLimit);
            LlamaWeights weights = LlamaWeights.load(config, checkpoint.tensors(), model, workers);
            var info = new ModelInfo(model.getFileName().toString(), model.toString(), "llama", config.contextLength(),
                    config.vocab(), null);
            return new CpuModel(info, tok, config, weights, checkpoint, ModelFingerprint.ofCheckpoint(model), fileSize(model));
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /** A model over an already-open GGUF with the given tokenizer; the model's {@link #mapping()} is {@code gguf}. */
    public static CpuModel fromGguf(GgufFile gguf, String source, Tokenizer tokenizer, int contextLimit, WorkerPool workers) {
        LlamaConfig config = LlamaConfig.fromGguf(gguf).withContextLength(contextLimit);
        LlamaWeights weights = LlamaWeights.load(config, gguf.tensors(), gguf.path(), workers);
        String name = gguf.string("general.name", String.valueOf(gguf.path().getFileName()));
        var info = new ModelInfo(name, source, config.architecture().ggufName(), config.contextLength(), config.vocab(),
                gguf.string("tokenizer.chat_template", null));
        ModelFingerprint fingerprint = ModelFingerprint.of(gguf);
        // Which of Phi-3's RoPE factor sets runs depends on the context limit, not on the file: K bytes differ.
        if (config.longRopeFactors() && gguf.tensors().containsKey("rope_factors_long.weight")) {
            fingerprint = fingerprint.variant("rope_factors_long");
        }
        return new CpuModel(info, tokenizer, config, weights, gguf, fingerprint, fileSize(gguf.path()));
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }
}
