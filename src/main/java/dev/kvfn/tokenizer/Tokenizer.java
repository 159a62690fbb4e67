package dev.kvfn.tokenizer;

/**
 * Text to token ids and back, as the model was trained (llama.cpp's behaviour is the reference).
 * Implementations are immutable and thread-safe.
 */
public interface Tokenizer {

    int vocabSize();

    /**
     * Encodes {@code text}. With {@code addSpecial} the model's BOS is prepended when the model
     * asks for one ({@code tokenizer.ggml.add_bos_token}, default per tokenizer model as in
     * llama.cpp); with {@code parseSpecial} the text of special/control tokens (e.g. {@code <s>})
     * is matched as those tokens instead of being tokenized as plain text, except inside {@code literal}
     * (user data, e.g. chat messages' content), which always stays plain text.
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial, LiteralSpans literal);

    /** {@link #encode(String, boolean, boolean, LiteralSpans)} with no literal spans. */
    default int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        return encode(text, addSpecial, parseSpecial, LiteralSpans.NONE);
    }

    /**
     * Encodes a rendered chat prompt: BOS as the model asks, special-token text parsed except inside
     * {@code literal} (the messages' content), which stays plain text.
     */
    default int[] encode(String text, LiteralSpans literal) {
        return encode(text, true, true, literal);
    }

    /** Encodes a prompt the way llama.cpp's server does: special tokens added, special text parsed. */
    default int[] encode(String text) {
        return encode(text, true, true);
    }

    /**
     * The raw bytes that {@code token} contributes to output text (SentencePiece "▁" becomes a
     * space, byte tokens {@code <0x0A>} their byte, GPT-2 byte-level symbols their bytes).
     * Control tokens (BOS, EOS, ...) contribute no bytes.
     */
    byte[] tokenBytes(int token);

    /** Decodes a sequence of completion tokens to text (invalid UTF-8 becomes U+FFFD). */
    String decode(int[] tokens);

    /** The token's piece as stored in the vocabulary (for debugging and tests). */
    String piece(int token);

    /** Beginning-of-sequence id, or -1 if the model has none. */
    int bos();

    /** End-of-sequence id, or -1 if the model has none. */
    int eos();

    /** Whether generating {@code token} ends the completion (EOS, EOT, and other end-of-generation tokens). */
    boolean isEndOfGeneration(int token);
}
