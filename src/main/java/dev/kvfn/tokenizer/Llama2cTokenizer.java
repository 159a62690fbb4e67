package dev.kvfn.tokenizer;

import dev.kvfn.model.ModelFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The tokenizer of llama2.c's {@code tokenizer.bin}: an int32 max token length, then per token a
 * float32 merge score, an int32 byte length and the piece's bytes. Encoding follows run.c's
 * {@code encode} (SentencePiece dummy-prefix space, greedy merges by best score, byte fallback at
 * id byte+3); decoding follows run.c's {@code decode} (leading space dropped after BOS,
 * {@code <0xXX>} pieces are raw bytes).
 */
public final class Llama2cTokenizer implements Tokenizer {
    public static final int UNK = 0;
    public static final int BOS = 1;
    public static final int EOS = 2;
    /** Ids 3..258 are the byte-fallback tokens {@code <0x00>..<0xFF>}. */
    private static final int BYTE_OFFSET = 3;

    /** Pieces as raw bytes; held as ISO-8859-1 strings so hashing and concatenation stay byte-exact. */
    private final String[] pieces;
    private final float[] scores;
    private final byte[][] bytes;
    private final Map<String, Integer> ids;
    /** The dummy-prefix token (the piece " "), or -1. */
    private final int space;
    /** Token of each one-byte piece, or -1. */
    private final int[] singleBytes = new int[256];
    private final ScoredMerges merges;

    private Llama2cTokenizer(String[] pieces, float[] scores) {
        this.pieces = pieces;
        this.scores = scores;
        this.bytes = new byte[pieces.length][];
        this.ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) {
            ids.putIfAbsent(pieces[i], i);
            bytes[i] = outputBytes(i);
        }
        this.space = ids.getOrDefault(" ", -1);
        Arrays.fill(singleBytes, -1);
        for (int b = 0; b < 256; b++) singleBytes[b] = ids.getOrDefault(String.valueOf((char) b), -1);
        this.merges = pairMerges();
    }

    /** Reads a llama2.c {@code tokenizer.bin}; a missing or malformed file names itself in the exception. */
    public static Llama2cTokenizer load(Path path) {
        byte[] raw;
        try {
            raw = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new ModelFormatException(path, "cannot read llama2.c tokenizer: " + dev.kvfn.model.FileErrors.describe(e), e);
        }
        ByteBuffer in = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < 4) throw new ModelFormatException(path, "truncated llama2.c tokenizer: no header");
        int maxLen = in.getInt();
        if (maxLen < 1 || maxLen > 1 << 16) {
            throw new ModelFormatException(path, "not a llama2.c tokenizer: implausible max_token_length " + maxLen);
        }
        var pieces = new java.util.ArrayList<String>();
        var scores = new java.util.ArrayList<Float>();
        while (in.hasRemaining()) {
            int id = pieces.size();
            if (in.remaining() < 8) throw new ModelFormatException(path, "truncated llama2.c tokenizer in token " + id);
            float score = in.getFloat();
            int len = in.getInt();
            if (len < 0 || len > maxLen || len > in.remaining()) {
                throw new ModelFormatException(path, "malformed llama2.c tokenizer: token " + id + " has length " + len
                        + " (max_token_length " + maxLen + ", " + in.remaining() + " bytes left)");
            }
            byte[] b = new byte[len];
            in.get(b);
            pieces.add(new String(b, StandardCharsets.ISO_8859_1));
            scores.add(score);
        }
        if (pieces.size() < BYTE_OFFSET + 256) {
            throw new ModelFormatException(path, "llama2.c tokenizer has " + pieces.size()
                    + " tokens; at least 259 (control + byte tokens) are expected");
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) s[i] = scores.get(i);
        return new Llama2cTokenizer(pieces.toArray(String[]::new), s);
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial, LiteralSpans literal) {
        if (text == null) throw new IllegalArgumentException("text must not be null");
        int[] out = new int[text.length() * 4 + 3];
        int n = 0;
        if (addSpecial) out[n++] = BOS;
        if (!parseSpecial) return Arrays.copyOf(out, encodeFragment(text, out, n));
        // <s> and </s> in the text (outside literal spans) become BOS/EOS; each fragment around them is encoded
        // like a fresh text.
        int from = 0;
        while (from <= text.length()) {
            int bos = next(text, "<s>", from, literal), eos = next(text, "</s>", from, literal);
            int at = bos < 0 ? eos : eos < 0 ? bos : Math.min(bos, eos);
            if (at < 0) {
                n = encodeFragment(text.substring(from), out, n);
                break;
            }
            n = encodeFragment(text.substring(from, at), out, n);
            boolean isBos = at == bos;
            out[n++] = isBos ? BOS : EOS;
            from = at + (isBos ? 3 : 4);
        }
        return Arrays.copyOf(out, n);
    }

    /** The next occurrence of {@code marker} at or after {@code from} that is not user data, or -1. */
    private static int next(String text, String marker, int from, LiteralSpans literal) {
        int at = text.indexOf(marker, from);
        while (at >= 0 && literal.overlaps(at, at + marker.length())) at = text.indexOf(marker, at + 1);
        return at;
    }

    /** run.c's encode for one piece of plain text, appended at {@code out[n]}; returns the new length. */
    private int encodeFragment(String text, int[] out, int n) {
        if (text.isEmpty()) return n;
        int start = n;
        if (space >= 0) out[n++] = space;
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < utf8.length; ) {
            int len = utf8Length(utf8[i]);
            len = Math.min(len, utf8.length - i);
            int id = len == 1 ? singleBytes[utf8[i] & 0xff] : ids.getOrDefault(new String(utf8, i, len, StandardCharsets.ISO_8859_1), -1);
            if (id >= 0) {
                out[n++] = id;
            } else {
                for (int j = 0; j < len; j++) out[n++] = (utf8[i + j] & 0xff) + BYTE_OFFSET;
            }
            i += len;
        }
        // Merge the adjacent pair whose concatenation has the best score, leftmost on ties, until none is a piece.
        return merges.mergeAll(out, start, n);
    }

    /**
     * Every pair of tokens whose concatenated bytes are a piece, keyed by the first token of each piece (pieces
     * split at every byte, empty parts included, so no pair is missed). run.c only merges a pair whose score
     * beats -infinity, so pieces scoring -infinity or NaN are left out.
     */
    private ScoredMerges pairMerges() {
        int splits = 0;
        for (String piece : pieces) splits += piece.length() + 1;
        int[] canonical = new int[pieces.length];
        for (int i = 0; i < pieces.length; i++) canonical[i] = ids.get(pieces[i]);
        ScoredMerges table = new ScoredMerges(pieces, scores, canonical, splits);
        for (int id = 0; id < pieces.length; id++) {
            String piece = pieces[id];
            if (canonical[id] != id || !(scores[id] > Float.NEGATIVE_INFINITY)) continue;
            for (int at = 0; at <= piece.length(); at++) {
                Integer left = ids.get(piece.substring(0, at)), right = ids.get(piece.substring(at));
                if (left != null && right != null) table.add(left, right, id);
            }
        }
        return table;
    }

    /** Bytes in the UTF-8 sequence led by {@code b}; a stray continuation byte stands alone. */
    private static int utf8Length(byte b) {
        int u = b & 0xff;
        if (u >= 0xf0 && u < 0xf8) return 4;
        if (u >= 0xe0) return u < 0xf0 ? 3 : 1;
        if (u >= 0xc0) return 2;
        return 1;
    }

    private byte[] outputBytes(int token) {
        if (token == UNK || token == BOS || token == EOS) return new byte[0];
        String p = pieces[token];
        if (p.length() == 6 && p.startsWith("<0x") && p.endsWith(">")) {
            try {
                return new byte[] {(byte) Integer.parseInt(p.substring(3, 5), 16)};
            } catch (NumberFormatException notAByte) {
                // an ordinary piece that happens to look like one
            }
        }
        return p.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Override
    public byte[] tokenBytes(int token) {
        checkToken(token);
        return bytes[token].clone();
    }

    @Override
    public String decode(int[] tokens) {
        var buf = new java.io.ByteArrayOutputStream();
        int prev = -1;
        for (int t : tokens) {
            checkToken(t);
            byte[] b = bytes[t];
            int skip = prev == BOS && b.length > 0 && b[0] == ' ' ? 1 : 0;
            buf.write(b, skip, b.length - skip);
            prev = t;
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Override
    public String piece(int token) {
        checkToken(token);
        return new String(pieces[token].getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
    }

    @Override
    public int bos() {
        return BOS;
    }

    @Override
    public int eos() {
        return EOS;
    }

    /** EOS, and BOS too: llama2.c models separate training stories with BOS, and run.c stops on it. */
    @Override
    public boolean isEndOfGeneration(int token) {
        return token == EOS || token == BOS;
    }

    private void checkToken(int token) {
        if (token < 0 || token >= pieces.length) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of " + pieces.length);
        }
    }
}
