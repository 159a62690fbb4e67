package dev.kvfn.engine.text;

import dev.kvfn.engine.FinishReason;
import dev.kvfn.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Turns the byte stream of completion tokens into text that is safe to hand to a client: bytes of
 * a multi-byte character split across tokens wait for the rest, and text that could still become
 * a stop string is held back until it cannot. When a stop string appears, the text ends just
 * before it.
 */
public final class CompletionText {
    private final List<String> stops;
    private byte[] pending = new byte[16];
    private int pendingLength;
    private final StringBuilder text = new StringBuilder();
    private int released;
    private boolean stopped;
    private FinishReason reason;

    /** @param stops non-empty strings, as {@link dev.kvfn.engine.GenerationRequest} guarantees */
    public CompletionText(List<String> stops) {
        this.stops = stops;
    }

    /**
     * Takes one generated token, the way every engine ends a completion: an end-of-generation token or a stop
     * string stops it, and so does the last token the request allows ({@code lastAllowed}). Returns the text that
     * became final with it; {@link #finishReason()} then says whether and why the completion ended.
     */
    public String accept(Tokenizer tokenizer, int token, boolean lastAllowed) {
        if (tokenizer.isEndOfGeneration(token)) {
            reason = FinishReason.STOP;
            return finish();
        }
        String piece = append(tokenizer.tokenBytes(token));
        if (stopped) {
            reason = FinishReason.STOP;
        } else if (lastAllowed) {
            reason = FinishReason.LENGTH;
            piece += finish();
        }
        return piece;
    }

    /** Why {@link #accept} ended the completion; null while it goes on. */
    public FinishReason finishReason() {
        return reason;
    }

    /** Adds a token's bytes; returns the text that became final (possibly empty). */
    public String append(byte[] bytes) {
        if (stopped) return "";
        if (pendingLength + bytes.length > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + bytes.length));
        }
        System.arraycopy(bytes, 0, pending, pendingLength, bytes.length);
        pendingLength += bytes.length;
        int complete = completePrefix(pending, pendingLength);
        if (complete > 0) {
            text.append(new String(pending, 0, complete, StandardCharsets.UTF_8));
            System.arraycopy(pending, complete, pending, 0, pendingLength - complete);
            pendingLength -= complete;
            // held-back text covers every possible start of a stop string, so searching the unreleased part suffices
            int stopAt = firstStop(released);
            if (stopAt >= 0) {
                stopped = true;
                text.setLength(stopAt);
                pendingLength = 0;
                return release(stopAt);
            }
        }
        return release(text.length() - heldForStop());
    }

    /** The stream ended without a stop string: everything held is final (a cut-off character becomes U+FFFD). */
    public String finish() {
        if (stopped) return "";
        if (pendingLength > 0) {
            text.append(new String(pending, 0, pendingLength, StandardCharsets.UTF_8));
            pendingLength = 0;
        }
        return release(text.length());
    }

    public boolean stopped() {
        return stopped;
    }

    /** All final text so far (after {@link #finish()}: the whole completion). */
    public String text() {
        return text.substring(0, released);
    }

    private String release(int upTo) {
        if (upTo <= released) return "";
        String out = text.substring(released, upTo);
        released = upTo;
        return out;
    }

    private int firstStop(int from) {
        int best = -1;
        for (String s : stops) {
            int at = text.indexOf(s, from);
            if (at >= 0 && (best < 0 || at < best)) best = at;
        }
        return best;
    }

    /** Length of the longest suffix of the unreleased text that is a proper prefix of some stop string. */
    private int heldForStop() {
        int held = 0;
        int end = text.length();
        for (String s : stops) {
            for (int len = Math.min(s.length() - 1, end - released); len > held; len--) {
                if (endsWith(end, s, len)) {
                    held = len;
                    break;
                }
            }
        }
        return held;
    }

    private boolean endsWith(int end, String stop, int len) {
        for (int i = 0; i < len; i++) if (text.charAt(end - len + i) != stop.charAt(i)) return false;
        return true;
    }

    /**
     * Bytes at the front of {@code b[0..n)} that end on a character boundary: a trailing lead byte
     * whose continuation bytes have not arrived yet is kept back (invalid bytes are not, they
     * decode to U+FFFD right away).
     */
    static int completePrefix(byte[] b, int n) {
        for (int back = 1; back <= Math.min(3, n); back++) {
            int u = b[n - back] & 0xff;
            if ((u & 0xc0) == 0x80) continue; // continuation byte: look further back for its lead
            int need = u >= 0xf0 && u < 0xf8 ? 4 : u >= 0xe0 && u < 0xf0 ? 3 : u >= 0xc0 && u < 0xe0 ? 2 : 1;
            return back < need ? n - back : n;
        }
        return n;
    }
}
