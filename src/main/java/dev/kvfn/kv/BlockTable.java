package dev.kvfn.kv;

import java.util.Objects;

/**
 * One sequence's blocks, in order: position {@code p} lives in block {@code block(p / blockTokens)}.
 * Each listed block holds one reference in the {@link BlockPool} for this sequence; leading blocks
 * taken from the prefix cache are shared and only read, writes go past them.
 */
public final class BlockTable {
    private final BlockPool pool;
    private final int blockTokens;
    private final int[] ids;
    private int blocks;

    /** @param maxPositions the most positions the sequence may ever hold (its context) */
    public BlockTable(BlockPool pool, int blockTokens, int maxPositions) {
        this.pool = pool;
        this.blockTokens = blockTokens;
        this.ids = new int[(maxPositions + blockTokens - 1) / blockTokens];
    }

    /** Adds {@code block} (already referenced for this sequence) at the end. */
    public void append(int block) {
        if (blocks == ids.length) throw new IllegalStateException("block table is full: " + blocks + " blocks");
        ids[blocks++] = block;
    }

    public int blocks() { return blocks; }

    public int block(int index) {
        Objects.checkIndex(index, blocks);
        return ids[index];
    }

    /** Positions the listed blocks cover. */
    public int capacity() {
        return blocks * blockTokens;
    }

    public int blockTokens() { return blockTokens; }

    /** The ids array itself, for kernels that walk it ({@code [0, blocks())} are valid); never modify it. */
    public int[] ids() {
        return ids;
    }

    /** Drops this sequence's reference to each of its blocks (deepest first into the free queue) and empties the table. */
    public void release() {
        pool.release(ids, blocks);
        blocks = 0;
    }
}
