package dev.kvfn.config;

import io.smallrye.config.ConfigMapping;

import java.nio.file.Path;
import java.util.Optional;

/** Which model to serve. Unset path: the built-in synthetic tiny model (meaningless text, for trying things out). */
@ConfigMapping(prefix = "kvfn.model")
public interface ModelConfig {

    /** A Llama-family GGUF file, or a llama2.c checkpoint (.bin) together with {@link #tokenizer()}. Env: KVFN_MODEL_PATH. */
    Optional<Path> path();

    /** llama2.c {@code tokenizer.bin}, needed only for llama2.c checkpoints. Env: KVFN_MODEL_TOKENIZER. */
    Optional<Path> tokenizer();
}
