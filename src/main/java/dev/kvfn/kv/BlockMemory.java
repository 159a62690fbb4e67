package dev.kvfn.kv;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The bytes of a {@link BlockPool}'s blocks in host memory: one off-heap segment cut into
 * {@link KvLayout#blockBytes()}-sized blocks, block {@code b} at {@link #offset(int) b * blockBytes}.
 * Reserved, not touched: pages arrive as blocks are first written.
 */
public final class BlockMemory implements AutoCloseable {
    private final KvLayout layout;
    private final long blockBytes;
    private final int blocks;
    private final Arena arena = Arena.ofShared(); // shared: compute workers and the spill thread read it
    private final MemorySegment memory;

    public BlockMemory(KvLayout layout, int blocks) {
        if (blocks < 1) throw new IllegalArgumentException("KV memory needs at least one block, got " + blocks);
        this.layout = layout;
        this.blockBytes = layout.blockBytes();
        this.blocks = blocks;
        this.memory = arena.allocate(Math.multiplyExact(blockBytes, (long) blocks), 64);
    }

    /** As many blocks as fit in {@code bytes}; refuses a budget below one block with the reason. */
    public static int blocksIn(KvLayout layout, long bytes) {
        long blocks = bytes / layout.blockBytes();
        if (blocks < 1) {
            throw new IllegalArgumentException("kvfn.kv.pool-bytes " + bytes + " is smaller than one KV block ("
                    + layout.blockBytes() + " bytes for " + layout.blockTokens() + " tokens)");
        }
        if (blocks > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("kvfn.kv.pool-bytes " + bytes + " makes too many blocks");
        return (int) blocks;
    }

    public KvLayout layout() { return layout; }
    public MemorySegment segment() { return memory; }
    public long blockBytes() { return blockBytes; }
    public int blocks() { return blocks; }

    /** Byte offset of {@code block} in {@link #segment()}. */
    public long offset(int block) {
        return block * blockBytes;
    }

    /** Block {@code block}'s bytes (a view, valid until close). */
    public MemorySegment block(int block) {
        return memory.asSlice(offset(block), blockBytes);
    }

    @Override
    public void close() {
        arena.close();
    }
}
