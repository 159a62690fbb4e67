package dev.kvfn.kv.tier.redis;

import java.nio.charset.StandardCharsets;

/**
 * The Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag (the text between the
 * first {@code {} and the next {@code }}, when not empty), modulo 16384 — as the cluster specification defines it.
 */
final class HashSlot {
    static final int SLOTS = 16384;
    private static final int[] TABLE = new int[256];

    static {
        for (int i = 0; i < 256; i++) {
            int crc = i << 8;
            for (int b = 0; b < 8; b++) crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            TABLE[i] = crc & 0xffff;
        }
    }

    private HashSlot() {}

    static int of(String key) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        int from = 0, to = k.length;
        int open = indexOf(k, (byte) '{', 0);
        if (open >= 0) {
            int close = indexOf(k, (byte) '}', open + 1);
            if (close > open + 1) {
                from = open + 1;
                to = close;
            }
        }
        int crc = 0;
        for (int i = from; i < to; i++) crc = ((crc << 8) ^ TABLE[((crc >>> 8) ^ k[i]) & 0xff]) & 0xffff;
        return crc & (SLOTS - 1);
    }

    private static int indexOf(byte[] k, byte c, int from) {
        for (int i = from; i < k.length; i++) if (k[i] == c) return i;
        return -1;
    }
}
