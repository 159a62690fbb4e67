package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.KvKernels;
import dev.kvfn.kv.BlockPool;
import dev.kvfn.kv.KvLayout;

import java.lang.foreign.MemorySegment;

/**
 * One sequence's view of the block pool: its block table. Position {@code p} lives in block
 * {@code table[p / blockTokens]}, slot {@code p % blockTokens}. The scheduler appends blocks
 * before a step writes into them; {@link #capacity()} is what the table covers now, so the forward
 * pass refuses (before writing anything) a row with no block. Blocks taken from the prefix cache
 * are shared and only read: writes go to positions past them.
 */
public final class PagedKvStore implements KvStore {
    private final BlockPool pool;
    private final MemorySegment memory;
    private final KvLayout layout;
    private final int type, blockTokens, headSize;
    private final long blockBytes;
    private final int[] table;
    private int blocks;

    /** @param maxPositions the most positions this sequence may ever hold (its context) */
    public PagedKvStore(BlockPool pool, int maxPositions) {
        this.pool = pool;
        this.memory = pool.memory();
        this.layout = pool.layout();
        this.type = typeCode(layout);
        this.blockTokens = layout.blockTokens();
        this.headSize = layout.headSize();
        this.blockBytes = pool.blockBytes();
        this.table = new int[(maxPositions + blockTokens - 1) / blockTokens];
    }

    static int typeCode(KvLayout layout) {
        return switch (layout.elementType()) {
            case F32 -> KvKernels.F32;
            case F16 -> KvKernels.F16;
            case Q8 -> KvKernels.Q8;
        };
    }

    /** Adds {@code block} (already referenced for this sequence) at the end of the table. */
    public void append(int block) {
        if (blocks == table.length) throw new IllegalStateException("block table is full: " + blocks + " blocks");
        table[blocks++] = block;
    }

    public int blocks() { return blocks; }

    public int block(int index) {
        java.util.Objects.checkIndex(index, blocks);
        return table[index];
    }

    /** Most blocks this sequence can have (its context over the block size). */
    public int maxBlocks() { return table.length; }

    /** Drops this sequence's reference to each of its blocks (deepest first into the free queue) and empties the table. */
    public void release() {
        pool.release(table, blocks);
        blocks = 0;
    }

    @Override
    public int capacity() {
        return blocks * blockTokens;
    }

    @Override
    public void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
        if (position < 0 || position >= capacity()) {
            throw new IndexOutOfBoundsException("position " + position + " has no block (the table covers " + capacity() + ")");
        }
        long base = table[position / blockTokens] * blockBytes;
        int slot = position % blockTokens;
        for (int h = 0; h < layout.kvHeads(); h++) {
            KvKernels.write(type, memory, base + layout.regionOffset(layer, false, h), base + layout.scaleOffset(layer, false, h),
                    true, blockTokens, headSize, slot, k, kOffset + h * headSize);
            KvKernels.write(type, memory, base + layout.regionOffset(layer, true, h), base + layout.scaleOffset(layer, true, h),
                    false, blockTokens, headSize, slot, v, vOffset + h * headSize);
        }
    }

    /** Element {@code d} of the key ({@code value == false}) or value of (layer, position, kv head), decoded. */
    public float element(int layer, int position, int kvHead, boolean value, int d) {
        long base = table[position / blockTokens] * blockBytes;
        return KvKernels.read(type, memory, base + layout.regionOffset(layer, value, kvHead),
                base + layout.scaleOffset(layer, value, kvHead), !value, blockTokens, headSize, position % blockTokens, d);
    }

    @Override
    public float keyDot(int layer, int position, int kvHead, float[] q, int qOffset) {
        float s = 0f;
        for (int d = 0; d < headSize; d++) s += q[qOffset + d] * element(layer, position, kvHead, false, d);
        return s;
    }

    @Override
    public void addValue(int layer, int position, int kvHead, float weight, float[] out, int outOffset) {
        for (int d = 0; d < headSize; d++) out[outOffset + d] += weight * element(layer, position, kvHead, true, d);
    }

    @Override
    public void attend(int layer, int kvHead, int positions, float[] q, int qOffset, float scale, float[] out,
                       int outOffset, int headSize) {
        KvKernels.attend(type, memory, table, blockBytes, layout.regionOffset(layer, false, kvHead),
                layout.regionOffset(layer, true, kvHead), layout.scaleOffset(layer, false, kvHead),
                layout.scaleOffset(layer, true, kvHead), blockTokens, this.headSize, positions, q, qOffset, scale, out, outOffset);
    }

    @Override
    public void attendRows(int layer, int kvHead, int firstPositions, int rows, float[] q, int qOffset, int qStride,
                           int heads, float scale, float[] out, int outOffset, int outStride, int headSize) {
        KvKernels.attendRows(type, memory, table, blockBytes, layout.regionOffset(layer, false, kvHead),
                layout.regionOffset(layer, true, kvHead), layout.scaleOffset(layer, false, kvHead),
                layout.scaleOffset(layer, true, kvHead), blockTokens, this.headSize, firstPositions, rows, q, qOffset, qStride,
                heads, scale, out, outOffset, outStride);
    }
}
