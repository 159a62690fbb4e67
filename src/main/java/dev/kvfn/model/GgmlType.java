package dev.kvfn.model;

/**
 * ggml tensor element types, with their on-disk ids and block geometry ({@code ggml-common.h}).
 * Only the types the CPU kernels implement are {@link #supported()}; the rest are listed so a
 * GGUF that uses them fails at load with "unsupported type X" and the supported list instead of
 * a parse error. Block layouts of the supported block types are described where they are decoded
 * ({@code ScalarMatrix}, {@code Quantize}).
 */
public enum GgmlType {
    F32(0, 1, 4, true),
    F16(1, 1, 2, true),
    Q4_0(2, 32, 18, true),
    Q4_1(3, 32, 20, true),
    Q5_0(6, 32, 22, true),
    Q5_1(7, 32, 24, true),
    Q8_0(8, 32, 34, true),
    Q8_1(9, 32, 36, false),
    Q2_K(10, 256, 84, true),
    Q3_K(11, 256, 110, true),
    Q4_K(12, 256, 144, true),
    Q5_K(13, 256, 176, true),
    Q6_K(14, 256, 210, true),
    Q8_K(15, 256, 292, false),
    IQ2_XXS(16, 256, 66, false),
    IQ2_XS(17, 256, 74, false),
    IQ3_XXS(18, 256, 98, false),
    IQ1_S(19, 256, 50, false),
    IQ4_NL(20, 32, 18, true),
    IQ3_S(21, 256, 110, false),
    IQ2_S(22, 256, 82, false),
    IQ4_XS(23, 256, 136, false),
    IQ1_M(29, 256, 56, false),
    BF16(30, 1, 2, true),
    MXFP4(39, 32, 17, false);

    private final int id;
    private final int blockSize;
    private final int bytesPerBlock;
    private final boolean supported;

    GgmlType(int id, int blockSize, int bytesPerBlock, boolean supported) {
        this.id = id;
        this.blockSize = blockSize;
        this.bytesPerBlock = bytesPerBlock;
        this.supported = supported;
    }

    public int id() { return id; }
    /** Elements per block (1 for plain float types). */
    public int blockSize() { return blockSize; }
    public int bytesPerBlock() { return bytesPerBlock; }
    /** Whether the CPU engine has kernels for this type. */
    public boolean supported() { return supported; }

    /** Bytes taken by {@code elements} values; {@code elements} must be a whole number of blocks. */
    public long bytesFor(long elements) {
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(this + " needs a multiple of " + blockSize + " elements, got " + elements);
        }
        return Math.multiplyExact(elements / blockSize, (long) bytesPerBlock);
    }

    /** "F32, F16, ..." : the types the CPU engine reads, for error messages. */
    public static String supportedNames() {
        return java.util.Arrays.stream(values()).filter(GgmlType::supported).map(GgmlType::name)
                .collect(java.util.stream.Collectors.joining(", "));
    }

    public static GgmlType byId(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) return t;
        }
        throw new IllegalArgumentException("unknown ggml tensor type id " + id);
    }
}
