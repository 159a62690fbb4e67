package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * llama.cpp's per-token attributes ({@code llama_token_attr}) for a GGUF vocabulary. GGUF stores only token types, so
 * llama.cpp's loader starts from {@code tokenizer.ggml.token_type} and then overrides by token text and model name:
 * end-of-generation, end-of-turn and fill-in-the-middle tokens become control tokens (so special-token text like
 * {@code "</s>"} is read as that token only when special parsing is on), a few gpt-oss tokens become user-defined,
 * and the special tokens of Phi-3 swallow the whitespace after them. Which tokens end generation is decided here
 * too, since llama.cpp decides it from the same texts.
 */
final class TokenAttributes {
    /** llama.cpp's attribute bits (a token can carry several). */
    static final int UNKNOWN = 1, UNUSED = 1 << 1, NORMAL = 1 << 2, CONTROL = 1 << 3, USER_DEFINED = 1 << 4, BYTE = 1 << 5,
            LSTRIP = 1 << 7, RSTRIP = 1 << 8;

    /** Token texts that end generation wherever a vocabulary has them (and that are made control tokens). */
    static final Set<String> END_OF_GENERATION_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
            "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>",
            "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
            "<｜end▁of▁sentence｜>", "[e~[");

    /**
     * A role found by token text when the GGUF names no id for it under {@code key} (nor {@code legacyKey}): the
     * token found becomes a control token; {@code endsGeneration} roles also end generation.
     */
    private record Role(String key, String legacyKey, boolean endsGeneration, List<String> texts) {}

    private static final List<Role> ROLES = List.of(
            new Role("tokenizer.ggml.eot_token_id", null, true, List.of("<|eot_id|>", "<|im_end|>", "<|end|>",
                    "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
                    "<｜end▁of▁sentence｜>", "<end_of_utterance>")),
            new Role("tokenizer.ggml.eom_token_id", null, true, List.of("<|eom_id|>")),
            new Role("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id", false, List.of("<|fim_prefix|>",
                    "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>")),
            new Role("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id", false, List.of("<|fim_suffix|>",
                    "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>")),
            new Role("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id", false, List.of("<|fim_middle|>",
                    "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>")),
            new Role("tokenizer.ggml.fim_pad_token_id", null, true, List.of("<|fim_pad|>", "<fim-pad>", "<fim_pad>",
                    "<PAD>", "[PAD]")),
            new Role("tokenizer.ggml.fim_rep_token_id", null, true, List.of("<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                    "<REPO>", "<reponame>")),
            new Role("tokenizer.ggml.fim_sep_token_id", null, true, List.of("<|file_sep|>")));

    /** gpt-oss tokens llama.cpp always renders: plain user-defined tokens whatever their type. */
    private static final Set<String> ALWAYS_RENDERED = Set.of("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>");

    private final int[] attributes;
    private final Set<Integer> endOfGeneration;

    private TokenAttributes(int[] attributes, Set<Integer> endOfGeneration) {
        this.attributes = attributes;
        this.endOfGeneration = endOfGeneration;
    }

    boolean has(int token, int attribute) {
        return (attributes[token] & attribute) != 0;
    }

    /** Control, user-defined and unknown tokens: those whose text is split out of the input before tokenizing. */
    boolean isSpecial(int token) {
        return has(token, CONTROL | USER_DEFINED | UNKNOWN);
    }

    boolean isEndOfGeneration(int token) {
        return endOfGeneration.contains(token);
    }

    /**
     * @param types {@code tokenizer.ggml.token_type} (SentencePiece's types: 1 normal, 2 unknown, 3 control,
     *              4 user-defined, 5 unused, 6 byte; anything else is undefined)
     * @param eos   the end-of-sequence id, or -1
     */
    static TokenAttributes from(String[] pieces, int[] types, int eos, GgufFile gguf) {
        int n = pieces.length;
        int[] attr = new int[n];
        for (int i = 0; i < n; i++) attr[i] = fromType(types[i]);
        // as llama.cpp's text-to-id map: an empty piece matches nothing, a repeated text means its last token
        Map<String, Integer> idOf = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) if (!pieces[i].isEmpty()) idOf.put(pieces[i], i);

        // Lookups by text, not passes over the vocabulary: a cold start runs this interpreted, and scanning 100k+
        // pieces once per role cost more than a tenth of a second there.
        Set<Integer> eog = new HashSet<>();
        for (Role role : ROLES) {
            int id = roleId(role, gguf, n);
            if (id < 0) { // llama.cpp takes the first match in hash order; the lowest id is our deterministic choice
                for (String text : role.texts()) {
                    Integer found = idOf.get(text);
                    if (found != null && (id < 0 || found < id)) id = found;
                }
                if (id >= 0) attr[id] |= CONTROL;
            }
            if (id >= 0 && role.endsGeneration()) eog.add(id);
        }
        for (String text : END_OF_GENERATION_TEXTS) {
            Integer id = idOf.get(text);
            if (id != null) {
                eog.add(id);
                attr[id] |= CONTROL;
            }
        }
        for (String text : ALWAYS_RENDERED) {
            Integer id = idOf.get(text);
            if (id != null) attr[id] = USER_DEFINED;
        }
        if (eos >= 0 && eos < n) eog.add(eos);
        // gpt-oss (<|return|>, <|call|>) and solar-open (<|calls|>, <|flush|>): "<|end|>" ends a message, not the turn
        boolean hasReturn = hasText(eog, pieces, "<|return|>"), hasCall = hasText(eog, pieces, "<|call|>") || hasText(eog, pieces, "<|calls|>");
        Integer end = eog.contains(idOf.get("<|end|>")) ? idOf.get("<|end|>") : null;
        if (end != null && hasCall && (hasReturn || hasText(eog, pieces, "<|flush|>"))) {
            eog.remove(end);
            attr[end] = USER_DEFINED;
        }
        // Gemma 4 and PaddleOCR: "</s>" is ordinary text there
        Integer s = idOf.get("</s>");
        if (s != null && eog.contains(s) && hasText(eog, pieces, "<|tool_response>")) {
            eog.remove(s);
            attr[s] = NORMAL;
        }
        stripAttributes(pieces, attr, idOf, gguf);
        return new TokenAttributes(attr, eog);
    }

    /** Whitespace stripping around special tokens, which llama.cpp sets per model family (GGUF does not record it). */
    private static void stripAttributes(String[] pieces, int[] attr, Map<String, Integer> idOf, GgufFile gguf) {
        String name = gguf.string("general.name", "").toLowerCase(Locale.ROOT);
        String pre = gguf.string("tokenizer.ggml.pre", "");
        String arch = gguf.string("general.architecture", "");
        if (containsAny(pre, "jina-v2-de", "jina-v2-es", "jina-v2-code") || containsAny(arch, "nomic-bert-moe", "jina-bert-v3")) {
            set(idOf, attr, "<mask>", LSTRIP, true);
        } else if (containsAny(name, "phi-3", "phi3")) {
            for (int i = 0; i < pieces.length; i++) {
                if ((attr[i] & (CONTROL | USER_DEFINED | UNKNOWN)) != 0 && !pieces[i].isEmpty()) attr[i] |= RSTRIP;
            }
            set(idOf, attr, "</s>", RSTRIP, true);
            for (String t : List.of("<unk>", "<s>", "<|endoftext|>")) set(idOf, attr, t, RSTRIP, false);
        } else if (containsAny(name, "modern-bert")) {
            set(idOf, attr, "[MASK]", LSTRIP, true);
        }
    }

    private static int fromType(int type) {
        return switch (type) {
            case 1 -> NORMAL;
            case 2 -> UNKNOWN;
            case 3 -> CONTROL;
            case 4 -> USER_DEFINED;
            case 5 -> UNUSED;
            case 6 -> BYTE;
            default -> 0; // undefined
        };
    }

    private static int roleId(Role role, GgufFile gguf, int n) {
        // llama.cpp reads the deprecated key last, so it wins; an id out of range is ignored
        for (String key : role.legacyKey() == null ? List.of(role.key()) : List.of(role.legacyKey(), role.key())) {
            long id = gguf.integer(key, -1);
            if (id >= 0 && id < n) return (int) id;
        }
        return -1;
    }

    private static boolean hasText(Set<Integer> tokens, String[] pieces, String text) {
        for (int t : tokens) if (pieces[t].equals(text)) return true;
        return false;
    }

    private static boolean containsAny(String s, String... parts) {
        for (String p : parts) if (s.contains(p)) return true;
        return false;
    }

    private static void set(Map<String, Integer> idOf, int[] attr, String text, int attribute, boolean on) {
        Integer id = idOf.get(text);
        if (id != null) attr[id] = on ? attr[id] | attribute : attr[id] & ~attribute;
    }
}
