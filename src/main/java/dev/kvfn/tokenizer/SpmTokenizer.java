package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece-style tokenizer from GGUF metadata ({@code tokenizer.ggml.model = llama}), as llama.cpp's
 * {@code llm_tokenizer_spm}: spaces become U+2581, a space is prefixed to the first text fragment, adjacent
 * symbols merge greedily by vocabulary score, and pieces not in the vocabulary fall back to byte tokens.
 * Merging goes through {@link ScoredMerges} (O(n log n)); the pair table is built here, once per vocabulary.
 */
public final class SpmTokenizer extends VocabularyTokenizer {
    private static final String SPACE = "\u2581";
    private static final int SPACE_CODE_POINT = 0x2581;
    private static final int NONE = Integer.MIN_VALUE;

    private final float[] scores;
    private final Map<String, Integer> ids;
    private final int[] byteTokens = new int[256];
    private final int unk;
    private final boolean addSpacePrefix;
    /** Merge symbols of characters (see {@link #symbolOf}): an array for the BMP, a map above it. */
    private final int[] bmpSymbols = new int[Character.MIN_SUPPLEMENTARY_CODE_POINT];
    private final Map<Integer, Integer> supplementarySymbols = new HashMap<>();
    /** Code points of the characters that occur only inside longer pieces, by merge symbol - pieces.length. */
    private final int[] characters;
    private final ScoredMerges merges;

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
        characters = assignCharacterSymbols();
        merges = pairMerges();
    }

    /** Gives every character of every piece its merge symbol; returns those that are no token on their own. */
    private int[] assignCharacterSymbols() {
        Arrays.fill(bmpSymbols, NONE);
        List<Integer> inside = new ArrayList<>();
        for (String piece : pieces) {
            for (int i = 0; i < piece.length(); ) {
                int cp = piece.codePointAt(i);
                i += Character.charCount(cp);
                if (symbolOf(cp) >= 0) continue;
                Integer alone = ids.get(Character.toString(cp));
                int symbol = alone != null ? alone : pieces.length + inside.size();
                if (alone == null) inside.add(cp);
                if (cp < bmpSymbols.length) bmpSymbols[cp] = symbol;
                else supplementarySymbols.put(cp, symbol);
            }
        }
        return inside.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Every way two merge symbols join into a piece: each piece split at each character boundary into two parts
     * that can be symbols (pieces, or single characters). Merged symbols are always pieces, so these are all
     * the merges the text can ever see.
     */
    private ScoredMerges pairMerges() {
        int splits = 0;
        for (String piece : pieces) splits += Math.max(0, piece.length() - 1);
        String[] texts = Arrays.copyOf(pieces, pieces.length + characters.length);
        for (int k = 0; k < characters.length; k++) texts[pieces.length + k] = Character.toString(characters[k]);
        ScoredMerges table = new ScoredMerges(texts, scores, null, splits);
        for (int id = 0; id < pieces.length; id++) {
            String piece = pieces[id];
            if (ids.get(piece) != id) continue; // a repeated piece: its first token is the one merges make
            int first = piece.isEmpty() ? 0 : Character.charCount(piece.codePointAt(0));
            for (int at = first; at < piece.length(); at += Character.charCount(piece.codePointAt(at))) {
                int left = pieceSymbol(piece.substring(0, at)), right = pieceSymbol(piece.substring(at));
                if (left >= 0 && right >= 0) table.add(left, right, id);
            }
        }
        return table;
    }

    private int pieceSymbol(String part) {
        Integer id = ids.get(part);
        if (id != null) return id;
        int cp = part.codePointAt(0);
        return Character.charCount(cp) == part.length() ? symbolOf(cp) : -1;
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
    void encodeText(String text, boolean afterSpecial, BpeMerges.IntList out) {
        // llama.cpp: a space is prefixed to text that starts the prompt or follows a special token; spaces become "▁"
        boolean prefix = addSpacePrefix && afterSpecial;
        int n = (prefix ? 1 : 0) + text.codePointCount(0, text.length());
        if (n == 0) return;
        int[] symbols = new int[n];
        int k = 0;
        if (prefix) symbols[k++] = symbolOf(SPACE_CODE_POINT);
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            symbols[k++] = symbolOf(cp == ' ' ? SPACE_CODE_POINT : cp);
            i += Character.charCount(cp);
        }
        n = merges.mergeAll(symbols, 0, n);
        for (int i = 0; i < n; i++) {
            int s = symbols[i];
            if (s >= 0 && s < pieces.length) {
                out.add(s);
            } else { // only merges into vocabulary pieces happen, so this is a single character the vocabulary lacks
                int cp = s >= 0 ? characters[s - pieces.length] : -s - 1;
                for (byte b : Character.toString(cp).getBytes(StandardCharsets.UTF_8)) {
                    int t = byteTokens[b & 0xff];
                    out.add(t >= 0 ? t : unk);
                }
            }
        }
    }

    /**
     * The merge symbol of one character: its token when the vocabulary has it alone; else, when some piece
     * contains it, an id past the vocabulary ({@code pieces.length + k}, {@code characters[k]} its code point) that
     * can still merge; else {@code -(cp + 1)}, which never merges.
     */
    private int symbolOf(int cp) {
        if (cp < bmpSymbols.length) {
            int s = bmpSymbols[cp];
            return s == NONE ? -cp - 1 : s;
        }
        Integer s = supplementarySymbols.get(cp);
        return s == null ? -cp - 1 : s;
    }
}
