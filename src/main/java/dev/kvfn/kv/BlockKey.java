package dev.kvfn.kv;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * The identity of one full block: a SHA-256 over its parent's key and its tokens (see
 * {@link BlockHasher}). Equal keys mean equal KV bytes for the same layout, in any process.
 */
public final class BlockKey {
    public static final int BYTES = 32;
    private final byte[] bytes;
    private final int hash;

    private BlockKey(byte[] bytes) {
        this.bytes = bytes;
        this.hash = Arrays.hashCode(bytes);
    }

    /** Wraps a copy of 32 key bytes (as read back from a store or an index). */
    public static BlockKey of(byte[] bytes) {
        if (bytes == null || bytes.length != BYTES) {
            throw new IllegalArgumentException("a block key is " + BYTES + " bytes, got " + (bytes == null ? "null" : bytes.length));
        }
        return new BlockKey(bytes.clone());
    }

    static BlockKey wrap(byte[] digest) {
        return new BlockKey(digest);
    }

    public static BlockKey parse(String hex) {
        return of(HexFormat.of().parseHex(hex));
    }

    public byte[] toBytes() {
        return bytes.clone();
    }

    public String hex() {
        return HexFormat.of().formatHex(bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BlockKey k && k.hash == hash && Arrays.equals(k.bytes, bytes);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return hex().substring(0, 16);
    }
}
