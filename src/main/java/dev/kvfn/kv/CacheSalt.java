package dev.kvfn.kv;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * A cache salt's rules: well-formed Unicode (an unpaired surrogate is refused, never replaced — a
 * lenient encoder turns {@code "\ud800"} and {@code "\udfff"} into the same {@code "?"}, and three
 * tenants would share one cache) and 1 to {@value #MAX_BYTES} UTF-8 bytes.
 */
public final class CacheSalt {
    public static final int MAX_BYTES = 256;

    private CacheSalt() {}

    /**
     * The salt's UTF-8 bytes.
     *
     * @throws IllegalArgumentException when it is empty, longer than {@value #MAX_BYTES} bytes or not well-formed Unicode
     */
    public static byte[] utf8(String salt) {
        if (salt.isEmpty()) throw new IllegalArgumentException("the cache salt must not be empty (omit it for the shared cache)");
        if (salt.length() > MAX_BYTES) throw tooLong(); // each char is at least one byte
        ByteBuffer b;
        try {
            b = StandardCharsets.UTF_8.newEncoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).encode(CharBuffer.wrap(salt));
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("the cache salt must be well-formed Unicode (it has an unpaired surrogate)");
        }
        if (b.remaining() > MAX_BYTES) throw tooLong();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /** {@code salt} when it is null (none) or valid; see {@link #utf8}. */
    public static String check(String salt) {
        if (salt != null) utf8(salt);
        return salt;
    }

    private static IllegalArgumentException tooLong() {
        return new IllegalArgumentException("the cache salt must be at most " + MAX_BYTES + " UTF-8 bytes");
    }
}
