package dev.kvfn.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A small Hugging Face tokenizer directory for tests: byte-level BPE over the 256 byte symbols plus the merges
 * h+e, l+l, he+ll, hell+o and Ġ+w (ids 256..260 for "he", "ll", "hell", "hello", "Ġw"), a Llama-3-style Split
 * pre-tokenizer, added tokens {@code <|bos|>} (257+5 = 261, special), {@code <|eot|>} (262, special) and
 * {@code <tool>} (263, not special, lstrip and rstrip), BOS added by the post-processor, and a named chat template.
 */
public final class HfTokenizerFixture {
    private HfTokenizerFixture() {}

    static final ObjectMapper JSON = new ObjectMapper();
    public static final int HE = 256, LL = 257, HELL = 258, HELLO = 259, SPACE_W = 260, BOS = 261, EOT = 262, TOOL = 263;
    public static final String TEMPLATE = "{% for m in messages %}<{{ m.role }}>{{ m.content }}<|eot|>{% endfor %}";

    /** Writes the directory; {@code edit} may change tokenizer.json (first) and tokenizer_config.json (second) before. */
    public static Path write(Path dir, Consumer<ObjectNode> editTokenizer, Consumer<ObjectNode> editConfig) throws IOException {
        ObjectNode tokenizer = JSON.createObjectNode();
        tokenizer.put("version", "1.0");
        ArrayNode added = tokenizer.putArray("added_tokens");
        added.add(token(BOS, "<|bos|>", true, false, false));
        added.add(token(EOT, "<|eot|>", true, false, false));
        added.add(token(TOOL, "<tool>", false, true, true));
        tokenizer.putNull("normalizer");
        ObjectNode pre = tokenizer.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode steps = pre.putArray("pretokenizers");
        ObjectNode split = steps.addObject();
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
        split.put("behavior", "Isolated");
        split.put("invert", false);
        ObjectNode byteLevel = steps.addObject();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("use_regex", false);
        ObjectNode post = tokenizer.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<|bos|>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ObjectNode model = tokenizer.putObject("model");
        model.put("type", "BPE");
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int b = 0; b < 256; b++) vocab.put(byteChar(b), b);
        vocab.put("he", HE);
        vocab.put("ll", LL);
        vocab.put("hell", HELL);
        vocab.put("hello", HELLO);
        vocab.put("\u0120w", SPACE_W);
        ArrayNode merges = model.putArray("merges");
        merges.add("h e");
        merges.addArray().add("l").add("l"); // the newer pair spelling, mixed in on purpose
        merges.add("he ll");
        merges.add("hell o");
        merges.add("\u0120 w");
        editTokenizer.accept(tokenizer);

        ObjectNode config = JSON.createObjectNode();
        config.put("bos_token", "<|bos|>");
        config.putObject("eos_token").put("content", "<|eot|>");
        ArrayNode templates = config.putArray("chat_template");
        templates.addObject().put("name", "default").put("template", TEMPLATE);
        templates.addObject().put("name", "tool_use").put("template", "tools");
        editConfig.accept(config);
        Files.createDirectories(dir);
        JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizer);
        JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        return dir;
    }

    public static Path write(Path dir) throws IOException {
        return write(dir, t -> { }, c -> { });
    }

    /** GPT-2's printable character for byte {@code b}: the one character that ByteLevel decodes to it. */
    static String byteChar(int b) {
        for (char c = 0; c < 512; c++) {
            byte[] d = BpeTokenizer.ByteLevel.decode(String.valueOf(c));
            if (d.length == 1 && (d[0] & 0xff) == b && (c >= 256 || isPrintable(c))) return String.valueOf(c);
        }
        throw new IllegalStateException("no byte-level character for " + b);
    }

    private static boolean isPrintable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }

    private static ObjectNode token(int id, String content, boolean special, boolean lstrip, boolean rstrip) {
        ObjectNode t = JSON.createObjectNode();
        t.put("id", id);
        t.put("content", content);
        t.put("single_word", false);
        t.put("lstrip", lstrip);
        t.put("rstrip", rstrip);
        t.put("normalized", false);
        t.put("special", special);
        return t;
    }
}
