package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * GPT-2 style byte-level BPE from GGUF metadata ({@code tokenizer.ggml.model = gpt2}), as llama.cpp's
 * {@code llm_tokenizer_bpe}: the text is split by the pre-tokenizer of {@code tokenizer.ggml.pre}, each
 * piece's UTF-8 bytes are mapped to printable characters, and adjacent symbols merge by merge rank.
 */
public final class BpeTokenizer extends VocabularyTokenizer {
    private final Map<String, Integer> ids;
    private final Map<String, Integer> mergeRanks;
    private final PreTokenizer preTokenizer;

    BpeTokenizer(GgufFile gguf) {
        super(gguf, false);
        String[] merges = gguf.array("tokenizer.ggml.merges", String[].class);
        ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) ids.putIfAbsent(pieces[i], i);
        mergeRanks = new HashMap<>(merges.length * 2);
        for (int r = 0; r < merges.length; r++) {
            if (merges[r].indexOf(' ', 1) < 0) throw new ModelFormatException(gguf.path(), "merge " + r + " is not two symbols: '" + merges[r] + "'");
            mergeRanks.putIfAbsent(merges[r], r);
        }
        String pre = gguf.string("tokenizer.ggml.pre", "default");
        try {
            preTokenizer = PreTokenizer.forName(pre);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(gguf.path(), e.getMessage());
        }
    }

    @Override
    byte[] pieceBytes(String piece, int type) {
        return ByteLevel.decode(piece);
    }

    @Override
    void encodeText(String text, boolean afterSpecial, List<Integer> out) {
        for (String word : preTokenizer.split(text)) encodeWord(ByteLevel.encode(word), out);
    }

    private record Bigram(int left, int right, int rank, int len) {}

    /** Merges the byte-level characters of one pre-tokenized word by rank, lowest first, leftmost on ties. */
    private void encodeWord(String word, List<Integer> out) {
        if (preTokenizer.ignoreMerges()) {
            Integer whole = ids.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int n = word.length(); // byte-level characters are all in the BMP
        int[] start = new int[n], len = new int[n], prev = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) {
            start[i] = i;
            len[i] = 1;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> a.rank != b.rank ? Integer.compare(a.rank, b.rank)
                : Integer.compare(a.left, b.left));
        for (int i = 1; i < n; i++) addBigram(word, start, len, i - 1, i, queue);
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            if (len[b.left] == 0 || len[b.right] == 0 || len[b.left] + len[b.right] != b.len) continue; // stale
            len[b.left] += len[b.right];
            len[b.right] = 0;
            next[b.left] = next[b.right];
            if (next[b.right] >= 0) prev[next[b.right]] = b.left;
            if (prev[b.left] >= 0) addBigram(word, start, len, prev[b.left], b.left, queue);
            if (next[b.left] >= 0) addBigram(word, start, len, b.left, next[b.left], queue);
        }
        for (int i = 0; i != -1; i = next[i]) {
            String symbol = word.substring(start[i], start[i] + len[i]);
            Integer id = ids.get(symbol);
            if (id != null) {
                out.add(id);
            } else { // cannot happen with a consistent vocabulary; llama.cpp falls back to single characters
                for (int c = 0; c < symbol.length(); c++) {
                    Integer single = ids.get(symbol.substring(c, c + 1));
                    if (single != null) out.add(single);
                }
            }
        }
    }

    private void addBigram(String word, int[] start, int[] len, int left, int right, PriorityQueue<Bigram> queue) {
        String l = word.substring(start[left], start[left] + len[left]);
        String r = word.substring(start[right], start[right] + len[right]);
        Integer rank = mergeRanks.get(l + " " + r);
        if (rank != null) queue.add(new Bigram(left, right, rank, len[left] + len[right]));
    }

    /** GPT-2's reversible map from bytes to printable characters, so merges never see raw control bytes. */
    static final class ByteLevel {
        private static final char[] BYTE_TO_CHAR = new char[256];
        private static final int[] CHAR_TO_BYTE = new int[512];

        static {
            Arrays.fill(CHAR_TO_BYTE, -1);
            int extra = 0;
            for (int b = 0; b < 256; b++) {
                boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
                char c = printable ? (char) b : (char) (256 + extra++);
                BYTE_TO_CHAR[b] = c;
                CHAR_TO_BYTE[c] = b;
            }
        }

        static String encode(String text) {
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            char[] out = new char[utf8.length];
            for (int i = 0; i < utf8.length; i++) out[i] = BYTE_TO_CHAR[utf8[i] & 0xff];
            return new String(out);
        }

        /** The bytes a vocabulary piece stands for; characters outside the map are kept as UTF-8. */
        static byte[] decode(String piece) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(piece.length());
            for (int i = 0; i < piece.length(); ) {
                int cp = piece.codePointAt(i);
                if (cp < CHAR_TO_BYTE.length && CHAR_TO_BYTE[cp] >= 0) out.write(CHAR_TO_BYTE[cp]);
                else out.writeBytes(Character.toString(cp).getBytes(StandardCharsets.UTF_8));
                i += Character.charCount(cp);
            }
            return out.toByteArray();
        }
    }
}
