package dev.kvfn.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into words before BPE, by the regular expressions llama.cpp uses for each
 * {@code tokenizer.ggml.pre} value. Each expression refines the pieces the previous one produced; text
 * between matches stays a piece of its own, so nothing is ever dropped.
 */
record PreTokenizer(String name, List<Pattern> patterns, boolean ignoreMerges) {

    private static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    private static final String CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    private static final String LLAMA3 = CONTRACTIONS
            + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2 = CONTRACTIONS
            + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String CJK = "[一-龥ࠀ-一가-퟿]+";
    private static final String PORO = " ?[^(\\s|.,!?…。，、।۔،)]+";
    private static final String UPPER_THEN_LOWER = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+";
    private static final String LOWER_AFTER_UPPER = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*";
    private static final String TEKKEN = UPPER_THEN_LOWER + "|" + LOWER_AFTER_UPPER
            + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String GPT4O = UPPER_THEN_LOWER + CONTRACTIONS + "?|" + LOWER_AFTER_UPPER + CONTRACTIONS
            + "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    // escapes stand for code points that Unicode normalization would silently change in source text
    private static final String DEEPSEEK_LLM_LETTERS = "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ\\x{10400}-\\x{1044f}𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";

    /** {@code tokenizer.ggml.pre} values, grouped as llama.cpp groups them, to their expressions. */
    private static final Map<List<String>, List<String>> BY_NAME = Map.ofEntries(
            Map.entry(List.of("default"), List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]")),
            Map.entry(List.of("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                    "dbrx", "smaug-bpe", "chatglm-bpe"), List.of(LLAMA3)),
            Map.entry(List.of("deepseek-llm"), List.of("[\\r\\n]", DEEPSEEK_LLM_LETTERS, "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
                    "\\s+\\z", CJK, "\\p{N}+")),
            Map.entry(List.of("deepseek-coder"), List.of("[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK, "\\p{N}")),
            Map.entry(List.of("falcon"), List.of("[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]")),
            Map.entry(List.of("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"),
                    List.of("\\p{N}", GPT2)),
            Map.entry(List.of("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
                    "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion", "granite-docling", "mellum", "a.x-4.0"),
                    List.of(GPT2)),
            Map.entry(List.of("qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan", "grok-2"), List.of(QWEN2)),
            Map.entry(List.of("poro-chat", "bloom", "gpt3-finnish"), List.of(PORO)),
            Map.entry(List.of("viking"), List.of(PORO, "\\p{N}")),
            Map.entry(List.of("tekken"), List.of(TEKKEN)),
            Map.entry(List.of("gpt-4o", "llama4", "minimax-m2"), List.of(GPT4O)));

    /** Pre-tokenizers whose words are looked up whole before merging (llama.cpp's ignore_merges). */
    private static final List<String> IGNORE_MERGES = List.of("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
            "pixtral", "midm-2.0", "lfm2", "tekken", "llama4");

    static PreTokenizer forName(String name) {
        for (var e : BY_NAME.entrySet()) {
            if (e.getKey().contains(name)) {
                List<Pattern> patterns = e.getValue().stream()
                        .map(p -> Pattern.compile(p, Pattern.UNICODE_CHARACTER_CLASS)).toList();
                return new PreTokenizer(name, patterns, IGNORE_MERGES.contains(name));
            }
        }
        throw new IllegalArgumentException("unsupported BPE pre-tokenizer tokenizer.ggml.pre='" + name + "'");
    }

    /** Every {@code tokenizer.ggml.pre} value this class knows. */
    static List<String> supportedNames() {
        return BY_NAME.keySet().stream().flatMap(List::stream).sorted().toList();
    }

    List<String> split(String text) {
        List<String> pieces = List.of(text);
        for (Pattern pattern : patterns) {
            List<String> next = new ArrayList<>(pieces.size() * 2);
            for (String piece : pieces) {
                Matcher m = pattern.matcher(piece);
                int last = 0;
                while (m.find()) {
                    if (m.end() == m.start()) continue;
                    if (m.start() > last) next.add(piece.substring(last, m.start()));
                    next.add(m.group());
                    last = m.end();
                }
                if (last < piece.length()) next.add(piece.substring(last));
            }
            pieces = next;
        }
        return pieces;
    }
}
