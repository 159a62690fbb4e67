package dev.kvfn.kv;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Computes block keys. A key is SHA-256 over a canonical encoding in which every field is a tag
 * byte, a 4-byte big-endian length and the field's bytes, so no two different inputs can encode
 * alike (token ids and salts cannot run into each other or into the parent key):
 *
 * <pre>
 *   "kvfn-block-key/1"
 *   'P' len parent-key            -- or, for a chain's first block:
 *   'R' len model-fingerprint  'L' len kv-layout  'S' len salt-utf8 (or 'N' 0 when there is none; see CacheSalt)
 *   'T' len token ids as 4-byte big-endian ints
 * </pre>
 *
 * Keys are therefore stable across processes and machines and already isolate models, KV layouts
 * and tenants (cache salt): a tier that stores blocks by key needs no further namespacing for
 * correctness. Not thread-safe (one digest reused); make one per thread.
 */
public final class BlockHasher {
    private static final byte[] DOMAIN = "kvfn-block-key/1".getBytes(StandardCharsets.US_ASCII);

    private final byte[] fingerprint;
    private final byte[] layout;
    private final MessageDigest sha;
    private final byte[] scratch = new byte[5];

    /**
     * @param layoutId an opaque, stable text naming the block layout ({@link BlockFormat#layoutId()}): any engine that
     *                 passes the same fingerprint, layout id, salt and tokens computes the same keys
     */
    public BlockHasher(byte[] modelFingerprint, String layoutId) {
        if (modelFingerprint == null || modelFingerprint.length == 0) throw new IllegalArgumentException("model fingerprint must be given");
        if (layoutId == null || layoutId.isEmpty()) throw new IllegalArgumentException("layout id must be given");
        this.fingerprint = modelFingerprint.clone();
        this.layout = layoutId.getBytes(StandardCharsets.UTF_8);
        try {
            this.sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /**
     * The key of the block holding {@code tokens[from .. from+count)}, whose parent is {@code parent}
     * (null for the first block of a chain, which then binds fingerprint, layout and {@code salt}).
     */
    public BlockKey key(BlockKey parent, String salt, int[] tokens, int from, int count) {
        sha.reset();
        sha.update(DOMAIN);
        if (parent != null) {
            field('P', BlockKey.BYTES);
            byte[] p = parent.toBytes();
            sha.update(p);
        } else {
            field('R', fingerprint.length);
            sha.update(fingerprint);
            field('L', layout.length);
            sha.update(layout);
            if (salt == null) {
                field('N', 0);
            } else {
                byte[] s = CacheSalt.utf8(salt); // strict: two malformed salts never encode alike
                field('S', s.length);
                sha.update(s);
            }
        }
        field('T', Math.multiplyExact(count, 4));
        for (int i = from; i < from + count; i++) {
            int t = tokens[i];
            scratch[0] = (byte) (t >>> 24);
            scratch[1] = (byte) (t >>> 16);
            scratch[2] = (byte) (t >>> 8);
            scratch[3] = (byte) t;
            sha.update(scratch, 0, 4);
        }
        return BlockKey.wrap(sha.digest());
    }

    private void field(char tag, int length) {
        scratch[0] = (byte) tag;
        scratch[1] = (byte) (length >>> 24);
        scratch[2] = (byte) (length >>> 16);
        scratch[3] = (byte) (length >>> 8);
        scratch[4] = (byte) length;
        sha.update(scratch, 0, 5);
    }
}
