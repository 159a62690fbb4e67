package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;

/** Placeholder on the engine branch; the tokenizer branch provides the real SPM/BPE factory. */
public final class Tokenizers {
    public static Tokenizer fromGguf(GgufFile gguf) {
        throw new UnsupportedOperationException("GGUF tokenizers are not on this branch yet: " + gguf.path());
    }
}
