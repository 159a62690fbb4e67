package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;

/** Builds the tokenizer a GGUF model describes in its {@code tokenizer.ggml.*} metadata. */
public final class Tokenizers {
    private Tokenizers() {}

    public static Tokenizer fromGguf(GgufFile gguf) {
        String model = gguf.string("tokenizer.ggml.model", null);
        if (model == null) throw new ModelFormatException(gguf.path(), "no tokenizer (tokenizer.ggml.model is missing)");
        return switch (model) {
            case "llama" -> new SpmTokenizer(gguf);
            case "gpt2" -> new BpeTokenizer(gguf);
            default -> throw new ModelFormatException(gguf.path(), "unsupported tokenizer model '" + model
                    + "' (supported: llama = SentencePiece, gpt2 = byte-level BPE)");
        };
    }
}
