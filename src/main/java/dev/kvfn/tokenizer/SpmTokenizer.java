package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;

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
public final class SpmTokenizer extends VocabularyTokenizer {
    private static final String SPACE = "\u2581";

    private final float[] scores;
    private final Map<String, Integer> ids;
    private final int[] byteTokens = new int[256];
    private final int unk;
    private final boolean addSpacePrefix;

    SpmTokenizer(GgufFile gguf) {
        super(gguf, true);
        scores = gguf.has("tokenizer.ggml.scores") ? gguf.array("tokenizer.ggml.scores", float[].class) : new float[pieces.length];
        if (scores.length != pieces.length) {
            throw new ModelFormatException(gguf.path(), "tokenizer arrays disagree in length (tokens " + pieces.length
                    + ", scores " + scores.length + ")");
        }
        ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) ids.putIfAbsent(pieces[i], i);
        Arrays.fill(byteTokens, -1);
        for (int i = 0; i < pieces.length; i++) {
            if (types[i] == BYTE && pieces[i].length() == 6 && pieces[i].startsWith("<0x")) {
                byteTokens[Integer.parseInt(pieces[i].substring(3, 5), 16)] = i;
            }
        }
        unk = (int) gguf.integer("tokenizer.ggml.unknown_token_id", 0);
        addSpacePrefix = gguf.bool("tokenizer.ggml.add_space_prefix", true);
    }

    @Override
    byte[] pieceBytes(String piece, int type) {
        return switch (type) {
            case BYTE -> new byte[] {(byte) Integer.parseInt(piece.substring(3, 5), 16)};
            case UNKNOWN -> "\u2585".getBytes(StandardCharsets.UTF_8); // what llama.cpp prints for <unk>
            default -> piece.replace(SPACE, " ").getBytes(StandardCharsets.UTF_8);
        };
    }

    @Override
    void encodeText(String text, boolean afterSpecial, List<Integer> out) {
        // llama.cpp: a space is prefixed to text that starts the prompt or follows a special token
        String t = (addSpacePrefix && afterSpecial ? " " : "") + text;
        encodeEscaped(t.replace(" ", SPACE), out);
    }

    /** One symbol of the merge list: a span of the text, linked to its neighbours. */
    private static final class Symbol {
        int start, len, prev, next;
    }

    private record Bigram(int left, int right, float score, int len) {}

    private void encodeEscaped(String text, List<Integer> out) {
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
