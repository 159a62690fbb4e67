package dev.kvfn.engine.cpu;

import dev.kvfn.engine.cpu.kernel.KvKernels;
import dev.kvfn.kv.BlockMemory;
import dev.kvfn.kv.BlockTable;
import dev.kvfn.kv.KvLayout;

import java.lang.foreign.MemorySegment;

/**
 * One sequence's K/V in the paged pool: position {@code p} lives in block
 * {@code table.block(p / blockTokens)}, slot {@code p % blockTokens}, of {@link BlockMemory}. The
 * scheduler appends blocks to the table before a step writes into them; {@link #capacity()} is
 * what the table covers now, so the forward pass refuses (before writing anything) a row with no
 * block. Blocks taken from the prefix cache are shared and only read: writes go past them.
 */
public final class PagedKv implements SequenceKv {
    private final BlockTable table;
    private final MemorySegment memory;
    private final KvLayout layout;
    private final int type, blockTokens, headSize;
    private final long blockBytes;

    public PagedKv(BlockMemory memory, BlockTable table) {
        this.table = table;
        this.memory = memory.segment();
        this.layout = memory.layout();
        this.type = switch (layout.elementType()) {
            case F32 -> KvKernels.F32;
            case F16 -> KvKernels.F16;
            case Q8 -> KvKernels.Q8;
        };
        this.blockTokens = layout.blockTokens();
        this.headSize = layout.headSize();
        this.blockBytes = memory.blockBytes();
    }

    public BlockTable table() { return table; }

    @Override
    public int capacity() {
        return table.capacity();
    }

    @Override
    public void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
        if (position < 0 || position >= capacity()) {
            throw new IndexOutOfBoundsException("position " + position + " has no block (the table covers " + capacity() + ")");
        }
        long base = table.ids()[position / blockTokens] * blockBytes;
        int slot = position % blockTokens;
        for (int h = 0; h < layout.kvHeads(); h++) {
            KvKernels.write(type, memory, base + layout.regionOffset(layer, false, h), base + layout.scaleOffset(layer, false, h),
                    true, blockTokens, headSize, slot, k, kOffset + h * headSize);
            KvKernels.write(type, memory, base + layout.regionOffset(layer, true, h), base + layout.scaleOffset(layer, true, h),
                    false, blockTokens, headSize, slot, v, vOffset + h * headSize);
        }
    }

    @Override
    public void attend(int layer, int kvHead, int positions, float[] q, int qOffset, float scale, float[] out,
                       int outOffset, int headSize) {
        KvKernels.attend(type, memory, table.ids(), blockBytes, layout.regionOffset(layer, false, kvHead),
                layout.regionOffset(layer, true, kvHead), layout.scaleOffset(layer, false, kvHead),
                layout.scaleOffset(layer, true, kvHead), blockTokens, this.headSize, positions, q, qOffset, scale, out, outOffset);
    }

    @Override
    public void attendRows(int layer, int kvHead, int firstPositions, int rows, float[] q, int qOffset, int qStride,
                           int heads, float scale, float[] out, int outOffset, int outStride, int headSize) {
        KvKernels.attendRows(type, memory, table.ids(), blockBytes, layout.regionOffset(layer, false, kvHead),
                layout.regionOffset(layer, true, kvHead), layout.scaleOffset(layer, false, kvHead),
                layout.scaleOffset(layer, true, kvHead), blockTokens, this.headSize, firstPositions, rows, q, qOffset, qStride,
                heads, scale, out, outOffset, outStride);
    }
}
