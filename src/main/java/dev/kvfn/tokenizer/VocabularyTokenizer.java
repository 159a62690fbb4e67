package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.ModelFormatException;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * What SentencePiece and BPE vocabularies from GGUF metadata share: token pieces and types, special-token
 * partitioning, BOS/EOS rules and decoding through per-token bytes. Subclasses say how plain text becomes
 * tokens and what bytes a piece stands for.
 */
abstract sealed class VocabularyTokenizer implements Tokenizer permits SpmTokenizer, BpeTokenizer {
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

    final String[] pieces;
    final int[] types;
    private final byte[][] bytes;
    private final SpecialTokens special;
    private final int bos, eos;
    private final boolean addBos, addEos;

    VocabularyTokenizer(GgufFile gguf, boolean addBosByDefault) {
        pieces = gguf.array("tokenizer.ggml.tokens", String[].class);
        if (gguf.has("tokenizer.ggml.token_type")) {
            types = gguf.array("tokenizer.ggml.token_type", int[].class);
        } else {
            types = new int[pieces.length];
            Arrays.fill(types, NORMAL);
        }
        if (types.length != pieces.length) {
            throw new ModelFormatException(gguf.path(), "tokenizer arrays disagree in length (tokens " + pieces.length
                    + ", token_type " + types.length + ")");
        }
        bos = (int) gguf.integer("tokenizer.ggml.bos_token_id", -1);
        eos = (int) gguf.integer("tokenizer.ggml.eos_token_id", -1);
        addBos = gguf.bool("tokenizer.ggml.add_bos_token", addBosByDefault);
        addEos = gguf.bool("tokenizer.ggml.add_eos_token", false);
        TokenAttributes attributes = TokenAttributes.from(pieces, types, eos, gguf);
        special = SpecialTokens.from(pieces, attributes);
        bytes = new byte[pieces.length][];
        for (int i = 0; i < pieces.length; i++) {
            // by attribute, not type: llama.cpp makes some tokens control (no output) or user-defined (their text) by name
            if (attributes.has(i, TokenAttributes.CONTROL | TokenAttributes.UNUSED)) bytes[i] = new byte[0];
            else if (attributes.has(i, TokenAttributes.USER_DEFINED)) bytes[i] = pieces[i].getBytes(StandardCharsets.UTF_8);
            else bytes[i] = pieceBytes(pieces[i], types[i]);
        }
    }

    /** The bytes a normal, unknown or byte token stands for in output text. Must not read subclass fields. */
    abstract byte[] pieceBytes(String piece, int type);

    /** Tokenizes one fragment of plain text; {@code afterSpecial}: it starts the text or follows a special token. */
    abstract void encodeText(String text, boolean afterSpecial, BpeMerges.IntList out);

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
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial, LiteralSpans literal) {
        BpeMerges.IntList out = new BpeMerges.IntList();
        if (addSpecial && addBos && bos >= 0) out.add(bos);
        boolean afterSpecial = true;
        for (SpecialTokens.Fragment f : special.partition(text, parseSpecial, literal)) {
            if (f.token() >= 0) {
                out.add(f.token());
                afterSpecial = true;
            } else {
                encodeText(f.text(), afterSpecial, out);
                afterSpecial = false;
            }
        }
        if (addSpecial && addEos && eos >= 0) out.add(eos);
        return out.toArray();
    }
}
