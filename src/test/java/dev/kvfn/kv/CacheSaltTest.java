package dev.kvfn.kv;

import dev.kvfn.engine.GenerationRequest;
import dev.kvfn.engine.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Salts that are not well-formed Unicode used to collide: {@code getBytes(UTF_8)} replaces an unpaired
 * surrogate with {@code '?'}, so {@code "\ud800"}, {@code "\udfff"} and {@code "?"} keyed the same
 * blocks. They are refused now, where salts enter the engine (the request and the hasher), as is a
 * salt outside 1..256 UTF-8 bytes.
 */
class CacheSaltTest {
    static final BlockHasher HASHER = new BlockHasher(new byte[32], "layout");
    static final int[] TOKENS = {1, 2, 3, 4};

    static BlockKey key(String salt) {
        return HASHER.key(null, salt, TOKENS, 0, TOKENS.length);
    }

    static GenerationRequest request(String salt) {
        return new GenerationRequest(TOKENS, 4, SamplingParams.GREEDY, List.of(), salt);
    }

    @Test
    void unpairedSurrogatesAreRefusedInsteadOfCollidingWithQuestionMark() {
        BlockKey question = key("?");
        for (String bad : List.of("\ud800", "\udfff", "a\ud800b", "\udfff\ud800")) {
            var e = assertThrows(IllegalArgumentException.class, () -> key(bad), "hasher: " + bad.codePoints().boxed().toList());
            assertTrue(e.getMessage().contains("well-formed Unicode"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> request(bad), "request");
        }
        // a surrogate pair is a real character: accepted, and its own tenant
        assertNotEquals(question, key("\ud83d\ude00"));
        assertEquals(key("\ud83d\ude00"), key(new String(Character.toChars(0x1F600))));
    }

    @Test
    void saltsAreOneTo256Utf8Bytes() {
        assertThrows(IllegalArgumentException.class, () -> request(""));
        assertEquals("x".repeat(256), request("x".repeat(256)).cacheSalt());
        assertThrows(IllegalArgumentException.class, () -> request("x".repeat(257)));
        assertEquals(255, CacheSalt.utf8("\u20ac".repeat(85)).length); // 3 bytes a char
        var e = assertThrows(IllegalArgumentException.class, () -> request("\u20ac".repeat(86)), "258 bytes in 86 chars");
        assertTrue(e.getMessage().contains("256 UTF-8 bytes"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> request("s".repeat(9 << 20)), "9 MB");
        assertThrows(IllegalArgumentException.class, () -> key("x".repeat(257)));
        assertNotEquals(key("x".repeat(255)), key("x".repeat(256)));
        assertEquals(null, request(null).cacheSalt(), "no salt: the shared cache");
    }
}
