package dev.kvfn.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.model.FileErrors;
import dev.kvfn.model.ModelFormatException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A Hugging Face tokenizer: {@code tokenizer.json} (byte-level BPE: {@code vocab}, {@code merges} in either
 * spelling, {@code ignore_merges}; the normalizer; the pre-tokenizer as declared; {@code added_tokens}; the
 * post-processor's special tokens) with {@code tokenizer_config.json} (BOS/EOS, {@code add_bos_token}/
 * {@code add_eos_token}, the {@code chat_template}) and, when present, {@code generation_config.json} (the
 * end-of-generation ids). Encoding follows Hugging Face's tokenizers: added tokens are split out first, the rest
 * is normalized, pre-tokenized, mapped to GPT-2's byte characters and merged by rank.
 */
public final class HfTokenizer implements Tokenizer {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String[] pieces;        // by id: vocabulary pieces and added tokens' contents
    private final byte[][] bytes;         // by id: what the token contributes to output text
    private final Normalizer.Form normalization; // null: none
    private final boolean lowercase;
    private final HfPreTokenizer preTokenizer;
    private final BpeMerges merges;
    private final boolean ignoreMerges;
    private final int unk;
    private final AddedTokens rawTokens;        // matched on the text as given
    private final AddedTokens normalizedTokens; // matched after normalization
    private final int[] prefix, suffix;          // what add-special puts around the ids
    private final int bos, eos;
    private final Set<Integer> endOfGeneration;
    private final String bosText, eosText;
    private final Map<String, String> chatTemplates; // name ("default" for a single template) to its source

    private HfTokenizer(Builder b) {
        pieces = b.pieces;
        bytes = b.bytes;
        normalization = b.normalization;
        lowercase = b.lowercase;
        preTokenizer = b.preTokenizer;
        merges = b.merges;
        ignoreMerges = b.ignoreMerges;
        unk = b.unk;
        rawTokens = new AddedTokens(b.added.stream().filter(t -> !(t.normalized() && b.hasNormalizer)).toList());
        normalizedTokens = new AddedTokens(b.added.stream().filter(t -> t.normalized() && b.hasNormalizer).toList());
        prefix = b.prefix;
        suffix = b.suffix;
        bos = b.bos;
        eos = b.eos;
        endOfGeneration = Set.copyOf(b.endOfGeneration);
        bosText = b.bosText;
        eosText = b.eosText;
        chatTemplates = Map.copyOf(b.chatTemplates);
    }

    /** Whether {@code dir} holds a Hugging Face tokenizer ({@code tokenizer.json}). */
    public static boolean isTokenizerDirectory(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve("tokenizer.json"));
    }

    /** Loads {@code tokenizer.json}, {@code tokenizer_config.json} (optional) and {@code generation_config.json} (optional). */
    public static HfTokenizer load(Path dir) {
        Path tokenizerJson = dir.resolve("tokenizer.json");
        JsonNode tokenizer = readJson(tokenizerJson, true);
        JsonNode config = readJson(dir.resolve("tokenizer_config.json"), false);
        JsonNode generation = readJson(dir.resolve("generation_config.json"), false);
        String templateFile = null;
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                templateFile = Files.readString(jinja, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new ModelFormatException(jinja, "cannot read: " + FileErrors.describe(e), e);
            }
        }
        try {
            return new HfTokenizer(new Builder(tokenizer, config, generation, templateFile));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(tokenizerJson, e.getMessage(), e);
        }
    }

    private static JsonNode readJson(Path file, boolean required) {
        if (!Files.isRegularFile(file)) {
            if (required) throw new ModelFormatException(file, "no such file (a Hugging Face tokenizer directory needs tokenizer.json)");
            return JSON.createObjectNode();
        }
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(file, "not readable JSON: " + e.getMessage(), e);
        }
    }

    /** The chat template: tokenizer_config.json's {@code chat_template} (its "default" entry when named), or null. */
    public String chatTemplate() {
        return chatTemplates.get("default");
    }

    /** A named chat template (e.g. "tool_use"), or null. */
    public String chatTemplate(String name) {
        return chatTemplates.get(name);
    }

    /** The BOS token's text as templates see it ({@code bos_token}), or null. */
    public String bosText() {
        return bosText;
    }

    /** The EOS token's text as templates see it ({@code eos_token}), or null. */
    public String eosText() {
        return eosText;
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial, LiteralSpans literal) {
        if (text == null) throw new IllegalArgumentException("text must not be null");
        BpeMerges.IntList out = new BpeMerges.IntList();
        BpeMerges.Scratch scratch = new BpeMerges.Scratch();
        if (addSpecial) for (int id : prefix) out.add(id);
        for (AddedTokens.Fragment f : rawTokens.split(text, parseSpecial, literal)) {
            if (f.token() != null) {
                out.add(f.token().id());
                continue;
            }
            String normalized = normalize(f.text());
            // normalizing moves positions: a fragment holding user data matches no special token after it
            boolean userData = literal.overlaps(f.start(), f.start() + f.text().length());
            for (AddedTokens.Fragment g : normalizedTokens.split(normalized, parseSpecial && !userData)) {
                if (g.token() != null) {
                    out.add(g.token().id());
                    continue;
                }
                for (String word : preTokenizer.split(g.text())) {
                    if (scratch.appendCached(word, out)) continue;
                    int from = out.size();
                    encodeWord(BpeTokenizer.ByteLevel.encode(word), scratch, out);
                    scratch.remember(word, out, from);
                }
            }
        }
        if (addSpecial) for (int id : suffix) out.add(id);
        return out.toArray();
    }

    private String normalize(String text) {
        String t = normalization == null ? text : Normalizer.normalize(text, normalization);
        return lowercase ? t.toLowerCase(Locale.ROOT) : t;
    }

    private void encodeWord(String word, BpeMerges.Scratch scratch, BpeMerges.IntList out) {
        if (ignoreMerges) {
            int whole = merges.wholeWord(word);
            if (whole >= 0) {
                out.add(whole);
                return;
            }
        }
        merges.encode(word, scratch, out, this::unknown);
    }

    /** A merged span outside the vocabulary (impossible in a consistent tokenizer.json): the unknown token, if any. */
    private void unknown(String word, int start, int end, BpeMerges.IntList out) {
        if (unk >= 0) out.add(unk);
    }

    @Override
    public byte[] tokenBytes(int token) {
        checkToken(token);
        return bytes[token].clone();
    }

    @Override
    public String decode(int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int t : tokens) {
            checkToken(t);
            out.writeBytes(bytes[t]);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public String piece(int token) {
        checkToken(token);
        return pieces[token];
    }

    @Override
    public int bos() {
        return bos;
    }

    @Override
    public int eos() {
        return eos;
    }

    @Override
    public boolean isEndOfGeneration(int token) {
        return endOfGeneration.contains(token);
    }

    private void checkToken(int token) {
        if (token < 0 || token >= pieces.length || pieces[token] == null) {
            throw new IllegalArgumentException("token id " + token + " is not in the vocabulary (size " + pieces.length + ")");
        }
    }

    /** Reads the JSON into the tokenizer's parts; every unsupported or inconsistent field is an IllegalArgumentException. */
    private static final class Builder {
        String[] pieces;
        byte[][] bytes;
        Normalizer.Form normalization;
        boolean lowercase, hasNormalizer, ignoreMerges;
        HfPreTokenizer preTokenizer;
        BpeMerges merges;
        int unk = -1, bos = -1, eos = -1;
        final List<AddedTokens.Token> added = new ArrayList<>();
        int[] prefix = new int[0], suffix = new int[0];
        final Set<Integer> endOfGeneration = new HashSet<>();
        String bosText, eosText;
        final Map<String, String> chatTemplates = new LinkedHashMap<>();

        Builder(JsonNode tokenizer, JsonNode config, JsonNode generation, String templateFile) {
            JsonNode model = tokenizer.path("model");
            String type = model.path("type").asText("BPE");
            if (!type.equals("BPE")) throw new IllegalArgumentException("unsupported tokenizer model '" + type + "' (supported: BPE)");
            if (model.path("dropout").isNumber() && model.path("dropout").asDouble() > 0) {
                throw new IllegalArgumentException("BPE dropout is not supported (it makes tokenization random)");
            }
            for (String affix : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
                if (!model.path(affix).asText("").isEmpty()) throw new IllegalArgumentException("BPE " + affix + " is not supported");
            }
            if (model.path("byte_fallback").asBoolean(false)) throw new IllegalArgumentException("BPE byte_fallback is not supported (byte-level BPE only)");
            ignoreMerges = model.path("ignore_merges").asBoolean(false);

            JsonNode vocab = model.path("vocab");
            if (!vocab.isObject() || vocab.isEmpty()) throw new IllegalArgumentException("model.vocab is missing or empty");
            Map<String, Integer> ids = new HashMap<>(vocab.size() * 2);
            int size = 0;
            for (var it = vocab.fields(); it.hasNext(); ) {
                var e = it.next();
                int id = e.getValue().asInt(-1);
                if (id < 0) throw new IllegalArgumentException("model.vocab: '" + e.getKey() + "' has no valid id");
                ids.put(e.getKey(), id);
                size = Math.max(size, id + 1);
            }
            for (JsonNode a : tokenizer.path("added_tokens")) {
                int id = a.path("id").asInt(-1);
                String content = a.path("content").asText(null);
                if (id < 0 || content == null) throw new IllegalArgumentException("added_tokens: an entry without id or content: " + a);
                boolean special = a.path("special").asBoolean(false);
                added.add(new AddedTokens.Token(id, content, special, a.path("normalized").asBoolean(!special),
                        a.path("lstrip").asBoolean(false), a.path("rstrip").asBoolean(false), a.path("single_word").asBoolean(false)));
            }
            int total = size;
            for (AddedTokens.Token t : added) total = Math.max(total, t.id() + 1);
            pieces = new String[total];
            ids.forEach((piece, id) -> pieces[id] = piece);

            List<String[]> pairs = new ArrayList<>();
            for (JsonNode m : model.path("merges")) {
                if (m.isArray() && m.size() == 2) {
                    pairs.add(new String[] {m.get(0).asText(), m.get(1).asText()});
                } else if (m.isTextual()) {
                    String s = m.asText();
                    int space = s.indexOf(' ', 1);
                    if (space < 0) throw new IllegalArgumentException("merge " + pairs.size() + " is not two symbols: '" + s + "'");
                    pairs.add(new String[] {s.substring(0, space), s.substring(space + 1)});
                } else {
                    throw new IllegalArgumentException("merge " + pairs.size() + " is neither \"a b\" nor [\"a\", \"b\"]: " + m);
                }
            }
            merges = new BpeMerges(ids, size, pairs);

            preTokenizer = HfPreTokenizer.fromJson(tokenizer.path("pre_tokenizer"));
            if (!preTokenizer.byteLevel()) throw new IllegalArgumentException("only byte-level BPE is supported: the pre_tokenizer has no ByteLevel step");
            normalizer(tokenizer.path("normalizer"));

            bytes = new byte[total][];
            for (int id = 0; id < total; id++) bytes[id] = pieces[id] == null ? new byte[0] : BpeTokenizer.ByteLevel.decode(pieces[id]);
            for (AddedTokens.Token t : added) {
                pieces[t.id()] = t.content();
                // special tokens are control text, never output; other added tokens are output as written
                bytes[t.id()] = t.special() ? new byte[0] : t.content().getBytes(StandardCharsets.UTF_8);
            }
            Map<String, Integer> byContent = new HashMap<>(ids);
            for (AddedTokens.Token t : added) byContent.put(t.content(), t.id());
            String unkText = model.path("unk_token").asText(null);
            if (unkText != null) unk = byContent.getOrDefault(unkText, -1);

            for (String key : List.of("remove_space", "do_lowercase_and_remove_accent")) { // XLNet/XLM text rewrites
                if (config.path(key).asBoolean(false)) throw new IllegalArgumentException("tokenizer_config.json " + key + " is not supported");
            }
            bosText = tokenText(config.path("bos_token"));
            eosText = tokenText(config.path("eos_token"));
            if (bosText != null) bos = id(byContent, bosText, "bos_token");
            if (eosText != null) eos = id(byContent, eosText, "eos_token");
            postProcessor(tokenizer.path("post_processor"), byContent);
            if (config.has("add_bos_token") || config.has("add_eos_token")) { // the config overrides the template, as transformers does
                prefix = config.path("add_bos_token").asBoolean(false) && bos >= 0 ? new int[] {bos} : new int[0];
                suffix = config.path("add_eos_token").asBoolean(false) && eos >= 0 ? new int[] {eos} : new int[0];
            }

            if (eos >= 0) endOfGeneration.add(eos);
            JsonNode genEos = generation.path("eos_token_id");
            if (genEos.isInt()) endOfGeneration.add(genEos.asInt());
            for (JsonNode e : genEos) if (e.isInt()) endOfGeneration.add(e.asInt());
            for (AddedTokens.Token t : added) if (t.special() && TokenAttributes.END_OF_GENERATION_TEXTS.contains(t.content())) endOfGeneration.add(t.id());
            for (int id : endOfGeneration) {
                if (id < 0 || id >= total) throw new IllegalArgumentException("end-of-generation id " + id + " is outside the vocabulary");
            }

            JsonNode template = config.path("chat_template");
            if (template.isTextual()) {
                chatTemplates.put("default", template.asText());
            } else if (template.isArray()) {
                for (JsonNode t : template) chatTemplates.put(t.path("name").asText("default"), t.path("template").asText());
            } else if (templateFile != null) {
                chatTemplates.put("default", templateFile);
            }
        }

        private static String tokenText(JsonNode node) {
            if (node.isTextual()) return node.asText();
            if (node.isObject() && node.path("content").isTextual()) return node.path("content").asText();
            return null;
        }

        private static int id(Map<String, Integer> byContent, String text, String key) {
            Integer id = byContent.get(text);
            if (id == null) throw new IllegalArgumentException("tokenizer_config.json " + key + " '" + text + "' is not a token");
            return id;
        }

        private void normalizer(JsonNode node) {
            if (node == null || node.isNull() || node.isMissingNode()) return;
            String type = node.path("type").asText("");
            hasNormalizer = true;
            switch (type) {
                case "Sequence" -> {
                    for (JsonNode n : node.path("normalizers")) normalizer(n);
                }
                case "NFC", "NFD", "NFKC", "NFKD" -> {
                    if (normalization != null) throw new IllegalArgumentException("more than one Unicode normalizer");
                    normalization = Normalizer.Form.valueOf(type);
                }
                case "Lowercase" -> lowercase = true;
                default -> throw new IllegalArgumentException("unsupported normalizer type '" + type
                        + "' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Sequence)");
            }
        }

        private void postProcessor(JsonNode node, Map<String, Integer> byContent) {
            if (node == null || node.isNull() || node.isMissingNode()) return;
            String type = node.path("type").asText("");
            switch (type) {
                case "ByteLevel" -> { } // offsets only
                case "Sequence" -> {
                    for (JsonNode p : node.path("processors")) postProcessor(p, byContent);
                }
                case "TemplateProcessing" -> {
                    List<Integer> before = new ArrayList<>(), after = new ArrayList<>();
                    boolean seenSequence = false;
                    for (JsonNode item : node.path("single")) {
                        if (item.has("Sequence")) {
                            seenSequence = true;
                        } else if (item.has("SpecialToken")) {
                            String name = item.path("SpecialToken").path("id").asText();
                            JsonNode declared = node.path("special_tokens").path(name).path("ids");
                            List<Integer> ids = new ArrayList<>();
                            if (declared.isArray() && !declared.isEmpty()) declared.forEach(i -> ids.add(i.asInt()));
                            else ids.add(id(byContent, name, "post_processor special token"));
                            (seenSequence ? after : before).addAll(ids);
                        }
                    }
                    prefix = before.stream().mapToInt(Integer::intValue).toArray();
                    suffix = after.stream().mapToInt(Integer::intValue).toArray();
                }
                default -> throw new IllegalArgumentException("unsupported post_processor type '" + type
                        + "' (supported: ByteLevel, TemplateProcessing, Sequence)");
            }
        }
    }

    @Override
    public String toString() {
        return "HfTokenizer[vocab " + pieces.length + ", bos " + bos + ", eos " + eos + ", prefix " + Arrays.toString(prefix) + "]";
    }
}
