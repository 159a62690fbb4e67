package dev.kvfn.kv;

/**
 * What every tier needs to know about a block, whichever engine made it: the layout id that goes
 * into the chain's first key (so blocks of different layouts never share a key), tokens per block,
 * and bytes per block (0 for an engine whose blocks never leave its device: only their keys and
 * tokens travel). The CPU engine's {@link KvLayout#format()} is one; a native engine describes its
 * own.
 */
public record BlockFormat(String layoutId, int blockTokens, long blockBytes) {
    public BlockFormat {
        if (layoutId == null || layoutId.isEmpty()) throw new IllegalArgumentException("a block format needs a layout id");
        if (blockTokens < 1) throw new IllegalArgumentException("blocks hold at least one token, got " + blockTokens);
        if (blockBytes < 0) throw new IllegalArgumentException("block bytes must be >= 0, got " + blockBytes);
    }

    /** Whether block bytes can move between tiers (false: an index of keys and tokens only). */
    public boolean hasBytes() {
        return blockBytes > 0;
    }
}
