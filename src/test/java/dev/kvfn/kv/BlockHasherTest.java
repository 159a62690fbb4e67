package dev.kvfn.kv;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BlockHasherTest {
    private static final byte[] FP = new byte[32];
    private static final KvLayout LAYOUT = new KvLayout(2, 2, 8, 4, KvElementType.F16);

    static {
        for (int i = 0; i < 32; i++) FP[i] = (byte) (i * 7);
    }

    /** The documented encoding, written out independently of BlockHasher. */
    private static byte[] expected(byte[] parent, byte[] fp, String layout, String salt, int[] tokens) throws Exception {
        var bytes = new ByteArrayOutputStream();
        var out = new DataOutputStream(bytes);
        out.write("kvfn-block-key/1".getBytes(StandardCharsets.US_ASCII));
        if (parent != null) {
            out.writeByte('P');
            out.writeInt(32);
            out.write(parent);
        } else {
            out.writeByte('R');
            out.writeInt(fp.length);
            out.write(fp);
            byte[] l = layout.getBytes(StandardCharsets.US_ASCII);
            out.writeByte('L');
            out.writeInt(l.length);
            out.write(l);
            if (salt == null) {
                out.writeByte('N');
                out.writeInt(0);
            } else {
                byte[] s = salt.getBytes(StandardCharsets.UTF_8);
                out.writeByte('S');
                out.writeInt(s.length);
                out.write(s);
            }
        }
        out.writeByte('T');
        out.writeInt(tokens.length * 4);
        for (int t : tokens) out.writeInt(t);
        return MessageDigest.getInstance("SHA-256").digest(bytes.toByteArray());
    }

    @Test
    void keysFollowTheDocumentedEncoding() throws Exception {
        var h = new BlockHasher(FP, LAYOUT.canonical());
        int[] tokens = {1, 2, 3, 4, 5, 6, 7, 8};
        BlockKey first = h.key(null, "tenant-ä", tokens, 0, 4);
        assertArrayEquals(expected(null, FP, LAYOUT.canonical(), "tenant-ä", new int[]{1, 2, 3, 4}), first.toBytes());
        BlockKey second = h.key(first, "tenant-ä", tokens, 4, 4);
        assertArrayEquals(expected(first.toBytes(), null, null, null, new int[]{5, 6, 7, 8}), second.toBytes());
        assertEquals(second, new BlockHasher(FP, LAYOUT.canonical()).key(first, null, tokens, 4, 4),
                "a non-first block's key depends on salt only through its parent");
        assertEquals(first, BlockKey.parse(first.hex()));
        assertEquals("kvfn-kv-layout/v1;type=f16;block=4;layers=2;kvheads=2;headsize=8", LAYOUT.canonical());
    }

    @Test
    void anyDifferenceInModelLayoutSaltParentOrTokensGivesADifferentKey() {
        int[] t = {1, 2, 3, 4, 5, 6, 7, 8};
        Set<BlockKey> keys = new HashSet<>();
        var h = new BlockHasher(FP, LAYOUT.canonical());
        BlockKey base = h.key(null, null, t, 0, 4);
        keys.add(base);
        keys.add(h.key(null, "?", t, 0, 4));                // a salt is not "no salt" (an empty one is refused: CacheSaltTest)
        keys.add(h.key(null, "a", t, 0, 4));
        keys.add(h.key(null, "b", t, 0, 4));
        keys.add(h.key(null, null, t, 1, 4));               // other tokens
        keys.add(h.key(null, null, t, 0, 3));               // fewer tokens
        keys.add(h.key(base, null, t, 0, 4));               // same tokens, under a parent
        byte[] otherFp = FP.clone();
        otherFp[0] ^= 1;
        keys.add(new BlockHasher(otherFp, LAYOUT.canonical()).key(null, null, t, 0, 4));
        keys.add(new BlockHasher(FP, new KvLayout(2, 2, 8, 4, KvElementType.Q8).canonical()).key(null, null, t, 0, 4));
        keys.add(new BlockHasher(FP, new KvLayout(2, 2, 8, 8, KvElementType.F16).canonical()).key(null, null, t, 0, 4));
        assertEquals(10, keys.size());
    }

    @Test
    void lengthPrefixesKeepSaltAndTokensApart() {
        // Without length prefixes, salt "x" + tokens [A, B] could encode like salt "x\0\0\0A" + [B].
        var h = new BlockHasher(FP, LAYOUT.canonical());
        String shifted = "x" + new String(new byte[]{0, 0, 0, 65}, StandardCharsets.ISO_8859_1);
        assertNotEquals(h.key(null, "x", new int[]{65, 66}, 0, 2), h.key(null, shifted, new int[]{66}, 0, 1));
        assertTrue(h.key(null, "x", new int[]{65, 66}, 0, 2).hex().matches("[0-9a-f]{64}"));
    }
}
