package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece-style tokenizer from GGUF metadata ({@code tokenizer.ggml.model = llama}), as llama.cpp's
 * {@code llm_tokenizer_spm}: spaces become U+2581, a space is prefixed to the first text fragment, adjacent
 * symbols merge greedily by vocabulary score, and pieces not in the vocabulary fall back to byte tokens.
 */
public final class SpmTokenizer implements Tokenizer {
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;
    private static final String SPACE = "\u2581";

    private final String[] pieces;
    private final float[] scores;
    private final int[] types;
    private final Map<String, Integer> ids;
    private final int[] byteTokens = new int[256];
    private final byte[][] bytes;
    private final SpecialTokens special;
    private final int bos, eos, unk;
    private final boolean addBos, addEos, addSpacePrefix;

    SpmTokenizer(GgufFile gguf) {
        pieces = gguf.array("tokenizer.ggml.tokens", String[].class);
        scores = gguf.has("tokenizer.ggml.scores") ? gguf.array("tokenizer.ggml.scores", float[].class) : new float[pieces.length];
        types = gguf.has("tokenizer.ggml.token_type") ? gguf.array("tokenizer.ggml.token_type", int[].class) : filled(pieces.length, NORMAL);
        if (scores.length != pieces.length || types.length != pieces.length) {
            throw new ModelFormatException(gguf.path(), "tokenizer arrays disagree in length (tokens " + pieces.length
                    + ", scores " + scores.length + ", token_type " + types.length + ")");
        }
        ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) ids.putIfAbsent(pieces[i], i);
        Arrays.fill(byteTokens, -1);
        for (int i = 0; i < pieces.length; i++) {
            if (types[i] == BYTE && pieces[i].length() == 6 && pieces[i].startsWith("<0x")) {
                byteTokens[Integer.parseInt(pieces[i].substring(3, 5), 16)] = i;
            }
        }
        bos = (int) gguf.integer("tokenizer.ggml.bos_token_id", 1);
        eos = (int) gguf.integer("tokenizer.ggml.eos_token_id", 2);
        unk = (int) gguf.integer("tokenizer.ggml.unknown_token_id", 0);
        addBos = gguf.bool("tokenizer.ggml.add_bos_token", true);
        addEos = gguf.bool("tokenizer.ggml.add_eos_token", false);
        addSpacePrefix = gguf.bool("tokenizer.ggml.add_space_prefix", true);
        bytes = new byte[pieces.length][];
        for (int i = 0; i < pieces.length; i++) bytes[i] = pieceBytes(i);
        special = SpecialTokens.from(pieces, types, gguf);
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        Arrays.fill(a, v);
        return a;
    }

    private byte[] pieceBytes(int id) {
        return switch (types[id]) {
            case CONTROL, UNUSED -> new byte[0];
            case BYTE -> new byte[] {(byte) Integer.parseInt(pieces[id].substring(3, 5), 16)};
            case UNKNOWN -> "\u2585".getBytes(StandardCharsets.UTF_8); // what llama.cpp prints for <unk>
            case USER_DEFINED -> pieces[id].getBytes(StandardCharsets.UTF_8);
            default -> pieces[id].replace(SPACE, " ").getBytes(StandardCharsets.UTF_8);
        };
    }

    @Override public int vocabSize() { return pieces.length; }
    @Override public int bos() { return bos; }
    @Override public int eos() { return eos; }
    @Override public String piece(int token) { return pieces[token]; }
    @Override public byte[] tokenBytes(int token) { return bytes[token]; }

    @Override
    public boolean isEndOfGeneration(int token) {
        return token == eos || special.isEndOfGeneration(token);
    }

    @Override
    public String decode(int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int t : tokens) out.writeBytes(bytes[t]);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        List<Integer> out = new ArrayList<>();
        if (addSpecial && addBos && bos >= 0) out.add(bos);
        boolean prevSpecial = true; // llama.cpp: prefix a space to text that starts the prompt or follows a special token
        for (SpecialTokens.Fragment f : special.partition(text, parseSpecial)) {
            if (f.token() >= 0) {
                out.add(f.token());
                prevSpecial = true;
            } else {
                String t = (addSpacePrefix && prevSpecial ? " " : "") + f.text();
                encodeText(t.replace(" ", SPACE), out);
                prevSpecial = false;
            }
        }
        if (addSpecial && addEos && eos >= 0) out.add(eos);
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** One symbol of the merge list: a span of the text, linked to its neighbours. */
    private static final class Symbol {
        int start, len, prev, next;
    }

    private record Bigram(int left, int right, float score, int len) {}

    private void encodeText(String text, List<Integer> out) {
        if (text.isEmpty()) return;
        // split into code points
        List<Symbol> symbols = new ArrayList<>();
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            Symbol s = new Symbol();
            s.start = i;
            s.len = Character.charCount(cp);
            s.prev = symbols.size() - 1;
            s.next = i + s.len < text.length() ? symbols.size() + 1 : -1;
            symbols.add(s);
            i += s.len;
        }
        // highest score first; among equal scores the leftmost pair (llama.cpp's llm_bigram_spm::comparator)
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> a.score != b.score ? Float.compare(b.score, a.score)
                : Integer.compare(a.left, b.left));
        for (int i = 1; i < symbols.size(); i++) tryBigram(text, symbols, i - 1, i, queue);
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            Symbol left = symbols.get(b.left), right = symbols.get(b.right);
            if (left.len == 0 || right.len == 0 || left.len + right.len != b.len) continue; // stale
            left.len += right.len;
            right.len = 0;
            left.next = right.next;
            if (right.next >= 0) symbols.get(right.next).prev = b.left;
            tryBigram(text, symbols, left.prev, b.left, queue);
            tryBigram(text, symbols, b.left, left.next, queue);
        }
        for (int i = 0; i != -1 && i < symbols.size(); i = symbols.get(i).next) {
            Symbol s = symbols.get(i);
            String piece = text.substring(s.start, s.start + s.len);
            Integer id = ids.get(piece);
            if (id != null) {
                out.add(id);
            } else { // only merges into vocabulary pieces happen, so this is a single character the vocabulary lacks
                for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                    int t = byteTokens[b & 0xff];
                    out.add(t >= 0 ? t : unk);
                }
            }
        }
    }

    private void tryBigram(String text, List<Symbol> symbols, int left, int right, PriorityQueue<Bigram> queue) {
        if (left < 0 || right < 0) return;
        Symbol l = symbols.get(left), r = symbols.get(right);
        String joined = text.substring(l.start, l.start + l.len + r.len);
        Integer id = ids.get(joined);
        if (id == null) return;
        queue.add(new Bigram(left, right, scores[id], l.len + r.len));
    }
}
