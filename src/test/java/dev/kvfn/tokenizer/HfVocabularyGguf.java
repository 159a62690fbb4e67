package dev.kvfn.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.model.GgufWriter;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Hugging Face {@code tokenizer.json} (byte-level BPE) as the vocabulary-only GGUF llama.cpp's convert_hf_to_gguf.py
 * writes for it: tokens, types (added tokens control when special, else user-defined) and merges. For tests and
 * benchmarks that need a GGUF of a tokenizer no file in ../shared/models has.
 *
 * @param tokens by id (ids no entry names become {@code [PADi]}, as the converter does)
 * @param types  SentencePiece token types by id
 */
public record HfVocabularyGguf(String[] tokens, int[] types, String[] merges) {

    public static HfVocabularyGguf read(Path tokenizerDir) throws IOException {
        JsonNode json = new ObjectMapper().readTree(tokenizerDir.resolve("tokenizer.json").toFile());
        JsonNode vocab = json.path("model").path("vocab");
        int size = vocab.size();
        for (JsonNode a : json.path("added_tokens")) size = Math.max(size, a.path("id").asInt() + 1);
        String[] tokens = new String[size];
        int[] types = new int[size];
        Arrays.fill(types, 1); // normal
        for (var e : vocab.properties()) tokens[e.getValue().asInt()] = e.getKey();
        for (JsonNode a : json.path("added_tokens")) {
            tokens[a.path("id").asInt()] = a.path("content").asText();
            types[a.path("id").asInt()] = a.path("special").asBoolean() ? 3 : 4; // control : user-defined
        }
        for (int i = 0; i < size; i++) if (tokens[i] == null) tokens[i] = "[PAD" + i + "]";
        List<String> merges = new ArrayList<>();
        for (JsonNode m : json.path("model").path("merges")) merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText());
        return new HfVocabularyGguf(tokens, types, merges.toArray(String[]::new));
    }

    /** Writes the GGUF with {@code tokenizer.ggml.pre} = {@code pre}. */
    public void write(String pre, Path file) throws IOException {
        new GgufWriter().putString("general.architecture", "llama")
                .putString("tokenizer.ggml.model", "gpt2").putString("tokenizer.ggml.pre", pre)
                .putStringArray("tokenizer.ggml.tokens", tokens)
                .putIntArray("tokenizer.ggml.token_type", GgufWriter.ValueType.INT32, types)
                .putStringArray("tokenizer.ggml.merges", merges)
                .write(file);
    }
}
