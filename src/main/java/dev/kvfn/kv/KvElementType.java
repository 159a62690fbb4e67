package dev.kvfn.kv;

import java.util.Locale;

/**
 * How one K or V element is stored in a pool block. {@code q8} is symmetric int8 with one f32 scale
 * per (block, layer, K|V, kv head): a quarter of f32's bytes, with a deviation measured in the tests.
 */
public enum KvElementType {
    F32(4), F16(2), Q8(1);

    private final int bytes;

    KvElementType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element, not counting q8's per-head scales. */
    public int bytes() {
        return bytes;
    }

    /** The config spelling: {@code f32}, {@code f16}, {@code q8}. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static KvElementType parse(String name) {
        if (name != null) {
            for (KvElementType t : values()) if (t.configName().equalsIgnoreCase(name.strip())) return t;
        }
        throw new IllegalArgumentException("unknown KV element type '" + name + "' (kvfn.kv.element-type): use f32, f16 or q8");
    }
}
