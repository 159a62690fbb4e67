package dev.kvfn.kv;

/**
 * The byte layout of one pool block: {@code blockTokens} tokens of K and V for every layer and kv
 * head. Per (layer, K|V, kv head) a block holds one region of {@code headSize x blockTokens}
 * elements; K regions are stored transposed ({@code [dim][token]}) so the scores of a whole block
 * against one query are {@code headSize} broadcast-FMAs with no horizontal sums, V regions are
 * {@code [token][dim]} so weighted values accumulate along the head dimension. q8 blocks end with
 * one f32 scale per region. The layout is part of every block key (a different layout never shares
 * a block), and {@link #FORMAT_VERSION} changes whenever this encoding does.
 */
public record KvLayout(int layers, int kvHeads, int headSize, int blockTokens, KvElementType elementType) {
    public static final int FORMAT_VERSION = 1;
    public static final int MAX_BLOCK_TOKENS = 256;

    public KvLayout {
        if (layers < 1 || kvHeads < 1 || headSize < 1) {
            throw new IllegalArgumentException("KV layout needs positive sizes: layers " + layers + ", kv heads " + kvHeads
                    + ", head size " + headSize);
        }
        if (blockTokens < 1 || blockTokens > MAX_BLOCK_TOKENS || Integer.bitCount(blockTokens) != 1) {
            throw new IllegalArgumentException("kvfn.kv.block-tokens must be a power of two from 1 to " + MAX_BLOCK_TOKENS
                    + ", got " + blockTokens);
        }
        if (elementType == null) throw new IllegalArgumentException("KV element type must be given");
    }

    /** Elements in one (layer, K|V, head) region. */
    public int regionElements() {
        return headSize * blockTokens;
    }

    public long regionBytes() {
        return (long) regionElements() * elementType.bytes();
    }

    private int regions() {
        return layers * 2 * kvHeads;
    }

    /** Byte offset inside a block of the K ({@code value == false}) or V region of (layer, head). */
    public long regionOffset(int layer, boolean value, int head) {
        return ((long) (layer * 2 + (value ? 1 : 0)) * kvHeads + head) * regionBytes();
    }

    /** Byte offset inside a block of a q8 region's f32 scale. */
    public long scaleOffset(int layer, boolean value, int head) {
        return regions() * regionBytes() + 4L * ((layer * 2 + (value ? 1 : 0)) * kvHeads + head);
    }

    /** Bytes of one block, rounded up to a 64-byte cache line so blocks never share a line. */
    public long blockBytes() {
        long raw = regions() * regionBytes() + (elementType == KvElementType.Q8 ? 4L * regions() : 0);
        return (raw + 63) & ~63L;
    }

    /** KV bytes one token costs in the pool (block bytes over block tokens). */
    public double bytesPerToken() {
        return (double) blockBytes() / blockTokens;
    }

    /** The engine-neutral description the tiers and the key hasher see. */
    public BlockFormat format() {
        return new BlockFormat(canonical(), blockTokens, blockBytes());
    }

    /** A stable text form, hashed into every first block key: any change makes different keys. */
    public String canonical() {
        return "kvfn-kv-layout/v" + FORMAT_VERSION + ";type=" + elementType.configName() + ";block=" + blockTokens
                + ";layers=" + layers + ";kvheads=" + kvHeads + ";headsize=" + headSize;
    }
}
