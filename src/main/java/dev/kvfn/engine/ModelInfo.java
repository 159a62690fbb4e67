package dev.kvfn.engine;

/**
 * What a client may know about the loaded model.
 *
 * @param name          model name (GGUF {@code general.name} or the file name)
 * @param source        where the weights came from (path, or "synthetic:tiny")
 * @param architecture  e.g. "llama"
 * @param contextLength maximum positions (prompt + completion)
 * @param vocabSize     number of tokens
 * @param chatTemplate  the model's own Jinja chat template (GGUF {@code tokenizer.chat_template}), or null
 */
public record ModelInfo(String name, String source, String architecture, int contextLength, int vocabSize,
                        String chatTemplate) {}
