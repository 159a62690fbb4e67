package dev.kvfn.engine.cpu;


/**
 * Test reference: a plain f32 K/V array for one sequence: per layer, positions back to back. Memory is taken in
 * slabs of {@link #SLAB} positions on first write, so a model with a 128K context costs only what
 * the longest sequence so far used; after warm-up writes allocate nothing.
 */
public final class ContiguousKv extends PerPositionKv {
    static final int SLAB = 256;

    private final int layers;
    private final int capacity;
    private final int headSize;
    private final int kvDim;
    /** [layer][slab] -> SLAB * kvDim floats, null until a position in that slab is written. */
    private final float[][][] keys;
    private final float[][][] values;

    public ContiguousKv(int layers, int capacity, int kvHeads, int headSize) {
        if (layers < 1 || capacity < 1 || kvHeads < 1 || headSize < 1) {
            throw new IllegalArgumentException("KV store needs positive sizes: layers " + layers + ", capacity " + capacity
                    + ", kv heads " + kvHeads + ", head size " + headSize);
        }
        this.layers = layers;
        this.capacity = capacity;
        this.headSize = headSize;
        this.kvDim = Math.multiplyExact(kvHeads, headSize);
        Math.multiplyExact(SLAB, kvDim); // a slab must fit one array
        int slabs = (capacity + SLAB - 1) / SLAB;
        this.keys = new float[layers][slabs][];
        this.values = new float[layers][slabs][];
    }

    public static ContiguousKv forModel(LlamaConfig c) {
        return new ContiguousKv(c.layers(), c.contextLength(), c.kvHeads(), c.headSize());
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
        if (layer < 0 || layer >= layers || position < 0 || position >= capacity) {
            throw new IndexOutOfBoundsException("KV slot (layer " + layer + ", position " + position + ") outside "
                    + layers + " layers x " + capacity + " positions");
        }
        int slab = position / SLAB;
        if (keys[layer][slab] == null) {
            keys[layer][slab] = new float[SLAB * kvDim];
            values[layer][slab] = new float[SLAB * kvDim];
        }
        int at = (position % SLAB) * kvDim;
        System.arraycopy(k, kOffset, keys[layer][slab], at, kvDim);
        System.arraycopy(v, vOffset, values[layer][slab], at, kvDim);
    }

    @Override
    float keyDot(int layer, int position, int kvHead, float[] q, int qOffset) {
        float[] k = keys[layer][position / SLAB];
        int at = (position % SLAB) * kvDim + kvHead * headSize;
        float s = 0f;
        for (int d = 0; d < headSize; d++) s += k[at + d] * q[qOffset + d];
        return s;
    }

    @Override
    void addValue(int layer, int position, int kvHead, float weight, float[] out, int outOffset) {
        float[] v = values[layer][position / SLAB];
        int at = (position % SLAB) * kvDim + kvHead * headSize;
        for (int d = 0; d < headSize; d++) out[outOffset + d] += weight * v[at + d];
    }
}
