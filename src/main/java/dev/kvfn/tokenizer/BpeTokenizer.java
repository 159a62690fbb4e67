package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ArrayList;

/**
 * GPT-2 style byte-level BPE from GGUF metadata ({@code tokenizer.ggml.model = gpt2}), as llama.cpp's
 * {@code llm_tokenizer_bpe}: the text is split by the pre-tokenizer of {@code tokenizer.ggml.pre}, each
 * piece's UTF-8 bytes are mapped to printable characters, and adjacent symbols merge by merge rank.
 */
public final class BpeTokenizer extends VocabularyTokenizer {
    private final Map<String, Integer> ids;
    private final BpeMerges merges;
    private final PreTokenizer preTokenizer;

    BpeTokenizer(GgufFile gguf) {
        super(gguf, false);
        String[] mergeList = gguf.array("tokenizer.ggml.merges", String[].class);
        ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) ids.putIfAbsent(pieces[i], i);
        List<String[]> pairs = new ArrayList<>(mergeList.length);
        for (int r = 0; r < mergeList.length; r++) {
            int space = mergeList[r].indexOf(' ', 1); // as llama.cpp: a merge may start with a space symbol
            if (space < 0) throw new ModelFormatException(gguf.path(), "merge " + r + " is not two symbols: '" + mergeList[r] + "'");
            pairs.add(new String[] {mergeList[r].substring(0, space), mergeList[r].substring(space + 1)});
        }
        merges = new BpeMerges(ids, pieces.length, pairs);
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
    void encodeText(String text, boolean afterSpecial, BpeMerges.IntList out) {
        BpeMerges.Scratch scratch = new BpeMerges.Scratch();
        for (String word : preTokenizer.split(text)) {
            if (scratch.appendCached(word, out)) continue;
            int from = out.size();
            encodeWord(ByteLevel.encode(word), scratch, out);
            scratch.remember(word, out, from);
        }
    }

    /** Merges the byte-level characters of one pre-tokenized word by rank, lowest first, leftmost on ties. */
    private void encodeWord(String word, BpeMerges.Scratch scratch, BpeMerges.IntList out) {
        if (preTokenizer.ignoreMerges()) {
            int whole = merges.wholeWord(word);
            if (whole >= 0) {
                out.add(whole);
                return;
            }
        }
        merges.encode(word, scratch, out, this::singleCharacters);
    }

    /** llama.cpp's fallback for a merged span the vocabulary lacks: those of its characters that are pieces. */
    private void singleCharacters(String word, int start, int end, BpeMerges.IntList out) {
        for (int c = start; c < end; c++) {
            Integer single = ids.get(word.substring(c, c + 1));
            if (single != null) out.add(single);
        }
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
