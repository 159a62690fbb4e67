package dev.kvfn.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A GGUF v2/v3 file mapped read-only into memory. Metadata is parsed eagerly (it is small);
 * tensor data is never copied: each {@link Tensor} is a slice of the mapping.
 *
 * <p>Metadata values are boxed Java values: integers as {@link Long} (or {@link Integer} for
 * 32-bit and smaller types), floats as {@link Float}/{@link Double}, {@link Boolean}, {@link String},
 * and arrays as {@code String[]}, {@code int[]} (any integer type up to 32 bits), {@code long[]},
 * {@code float[]}, {@code double[]}, {@code boolean[]} or {@code Object[]} (nested arrays).
 *
 * <p>The file is untrusted input: every count is checked against the bytes left before anything is
 * allocated for it (an entry takes at least a known number of bytes), arrays nest at most
 * {@value #MAX_NESTING} deep, shape products, sizes and offsets use exact arithmetic, and every
 * defect is a {@link ModelFormatException} — never an overflow, a huge allocation or a stack overflow.
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" little-endian
    public static final int DEFAULT_ALIGNMENT = 32;
    /** Arrays of arrays at most this deep (llama.cpp writes none nested; its reader allows none). */
    static final int MAX_NESTING = 4;
    // the fewest bytes one header entry can take: a metadata pair (key length, type, a 1-byte value) and a tensor
    // info (name length, dimension count, one dimension, type, offset)
    private static final int MIN_KV_BYTES = 8 + 4 + 1, MIN_TENSOR_BYTES = 8 + 4 + 8 + 4 + 8;

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private final Path path;
    private final Arena arena;
    private final MemorySegment mapping;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, Tensor> tensors;
    private final long dataOffset;

    private GgufFile(Path path, Arena arena, MemorySegment mapping, int version, Map<String, Object> metadata,
                     Map<String, Tensor> tensors, long dataOffset) {
        this.path = path;
        this.arena = arena;
        this.mapping = mapping;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.dataOffset = dataOffset;
    }

    /** Maps and parses {@code path}; any defect is a {@link ModelFormatException} naming the file. */
    public static GgufFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return parse(path, arena, seg);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path, "cannot read: " + FileErrors.describe(e), e);
        } catch (RuntimeException e) {
            arena.close();
            if (e instanceof ModelFormatException) throw e;
            throw new ModelFormatException(path, "not a valid GGUF file: " + e, e);
        }
    }

    private static GgufFile parse(Path path, Arena arena, MemorySegment seg) {
        Reader r = new Reader(path, seg);
        if (seg.byteSize() < 24 || r.i32() != MAGIC) {
            throw new ModelFormatException(path, "not a GGUF file (bad magic)");
        }
        int version = r.i32();
        if (version != 2 && version != 3) {
            throw new ModelFormatException(path, "unsupported GGUF version " + version + " (2 and 3 are supported)");
        }
        long tensorCount = r.i64();
        long kvCount = r.i64();
        if (tensorCount < 0 || tensorCount > 1_000_000 || kvCount < 0 || kvCount > 1_000_000) {
            throw new ModelFormatException(path, "implausible header counts (tensors " + tensorCount + ", metadata " + kvCount + ")");
        }
        if (kvCount * MIN_KV_BYTES + tensorCount * MIN_TENSOR_BYTES > r.left()) {
            throw new ModelFormatException(path, "truncated header: " + tensorCount + " tensors and " + kvCount
                    + " metadata entries cannot fit in a file of " + seg.byteSize() + " bytes");
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = r.string();
            int type = r.i32();
            meta.put(key, r.value(type, 0));
        }
        record Info(String name, long[] shape, GgmlType type, long offset) {}
        Info[] infos = new Info[(int) tensorCount];
        for (int i = 0; i < tensorCount; i++) {
            String name = r.string();
            int nDims = r.i32();
            if (nDims < 1 || nDims > 4) throw new ModelFormatException(path, "tensor " + name + " has " + nDims + " dimensions");
            long[] shape = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                shape[d] = r.i64();
                if (shape[d] < 1) throw new ModelFormatException(path, "tensor " + name + " has dimension " + d + " of " + shape[d]);
            }
            int typeId = r.i32();
            GgmlType type;
            try {
                type = GgmlType.byId(typeId);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(path, "tensor " + name + " has unknown type id " + typeId);
            }
            long offset = r.i64();
            if (offset < 0) throw new ModelFormatException(path, "tensor " + name + " has offset " + offset);
            infos[i] = new Info(name, shape, type, offset);
        }
        Object align = meta.getOrDefault("general.alignment", DEFAULT_ALIGNMENT);
        long alignment = align instanceof Integer || align instanceof Long ? ((Number) align).longValue() : -1;
        if (alignment < 1 || alignment > 1 << 20 || Long.bitCount(alignment) != 1) {
            throw new ModelFormatException(path, "general.alignment " + align + " is not a power of two up to 1 MiB");
        }
        long dataOffset = alignUp(r.pos, alignment);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Info info : infos) {
            long bytes, start;
            try {
                long elements = 1;
                for (long d : info.shape) elements = Math.multiplyExact(elements, d);
                bytes = info.type.bytesFor(elements);
                start = Math.addExact(dataOffset, info.offset);
                Math.addExact(start, bytes);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(path, "tensor " + info.name + ": " + e.getMessage());
            } catch (ArithmeticException e) {
                throw new ModelFormatException(path, "tensor " + info.name + " of shape " + java.util.Arrays.toString(info.shape)
                        + " at offset " + info.offset + " is larger than any file (" + e.getMessage() + ")");
            }
            if (start + bytes > seg.byteSize()) {
                throw new ModelFormatException(path, "truncated: tensor " + info.name + " ends at byte " + (start + bytes)
                        + " but the file has " + seg.byteSize() + " bytes");
            }
            tensors.put(info.name, new Tensor(info.name, info.type, info.shape, seg.asSlice(start, bytes)));
        }
        return new GgufFile(path, arena, seg, version, Collections.unmodifiableMap(meta),
                Collections.unmodifiableMap(tensors), dataOffset);
    }

    /**
     * Whether {@code path} starts with the GGUF magic (else it may be another model format).
     *
     * @throws ModelFormatException when the file is missing, unreadable or too short to be any model
     */
    public static boolean isGguf(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            while (head.hasRemaining() && ch.read(head) > 0) { /* read the magic */ }
            if (head.hasRemaining()) throw new ModelFormatException(path, "file too short to be a model (" + ch.size() + " bytes)");
            return head.getInt(0) == MAGIC;
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ModelFormatException(path, "no such file", e);
        } catch (IOException e) {
            throw new ModelFormatException(path, "cannot read model: " + FileErrors.describe(e), e);
        }
    }

    static long alignUp(long x, long alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }

    public Path path() { return path; }
    public int version() { return version; }
    public Map<String, Object> metadata() { return metadata; }
    public Map<String, Tensor> tensors() { return tensors; }
    public long dataOffset() { return dataOffset; }
    public MemorySegment mapping() { return mapping; }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new ModelFormatException(path, "missing tensor " + name);
        return t;
    }

    public boolean has(String key) { return metadata.containsKey(key); }

    public String string(String key) {
        Object v = require(key);
        if (v instanceof String s) return s;
        throw new ModelFormatException(path, "metadata " + key + " is not a string");
    }

    public String string(String key, String dflt) {
        return metadata.get(key) instanceof String s ? s : dflt;
    }

    public long integer(String key) {
        Object v = require(key);
        if (v instanceof Number n && !(v instanceof Float) && !(v instanceof Double)) return n.longValue();
        throw new ModelFormatException(path, "metadata " + key + " is not an integer");
    }

    public long integer(String key, long dflt) {
        return metadata.containsKey(key) ? integer(key) : dflt;
    }

    public float real(String key, float dflt) {
        Object v = metadata.get(key);
        if (v == null) return dflt;
        if (v instanceof Number n) return n.floatValue();
        throw new ModelFormatException(path, "metadata " + key + " is not a number");
    }

    public boolean bool(String key, boolean dflt) {
        return metadata.get(key) instanceof Boolean b ? b : dflt;
    }

    /** Typed array accessor, e.g. {@code array("tokenizer.ggml.tokens", String[].class)}. */
    public <T> T array(String key, Class<T> type) {
        Object v = require(key);
        if (type.isInstance(v)) return type.cast(v);
        throw new ModelFormatException(path, "metadata " + key + " is not a " + type.getSimpleName());
    }

    private Object require(String key) {
        Object v = metadata.get(key);
        if (v == null) throw new ModelFormatException(path, "missing metadata " + key);
        return v;
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Sequential little-endian reader over the mapping with bounds checks that name the file. */
    private static final class Reader {
        final Path path;
        final MemorySegment seg;
        long pos;
        // Lengths, counts and strings are read from a heap copy of the mapping, a MiB at a time: a cold start interprets
        // this, where each segment access is a long chain of calls, and a vocabulary is 100k+ strings.
        private static final int WINDOW = 1 << 20;
        private byte[] window = new byte[0];
        private long windowStart;
        private int windowLength;

        Reader(Path path, MemorySegment seg) {
            this.path = path;
            this.seg = seg;
        }

        /** Where byte {@code pos} is in {@link #window}, with the {@code n} bytes from it there (checked against the file). */
        private int window(long n) {
            need(n);
            long off = pos - windowStart;
            if (off < 0 || off + n > windowLength) {
                int size = (int) Math.min(left(), Math.max(WINDOW, n));
                if (window.length < size) window = new byte[size];
                MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, window, 0, size);
                windowStart = pos;
                windowLength = size;
                off = 0;
            }
            return (int) off;
        }

        void need(long n) {
            if (n < 0 || n > left()) {
                throw new ModelFormatException(path, "truncated header at byte " + pos);
            }
        }

        long left() {
            return seg.byteSize() - pos;
        }

        int i32() {
            int at = window(4);
            byte[] b = window;
            pos += 4;
            return b[at] & 0xff | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | b[at + 3] << 24;
        }

        long i64() {
            int at = window(8);
            byte[] b = window;
            pos += 8;
            return b[at] & 0xffL | (b[at + 1] & 0xffL) << 8 | (b[at + 2] & 0xffL) << 16 | (b[at + 3] & 0xffL) << 24
                    | (b[at + 4] & 0xffL) << 32 | (b[at + 5] & 0xffL) << 40 | (b[at + 6] & 0xffL) << 48 | (long) b[at + 7] << 56;
        }

        String string() {
            long len = i64();
            if (len > Integer.MAX_VALUE) throw new ModelFormatException(path, "string length " + len + " at byte " + pos);
            int at = window(len);
            pos += len;
            return new String(window, at, (int) len, StandardCharsets.UTF_8);
        }

        /** A value of {@code type} inside {@code depth} enclosing arrays. */
        Object value(int type, int depth) {
            return switch (type) {
                case 0 -> { need(1); yield (int) (seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff); }
                case 1 -> { need(1); yield (int) seg.get(ValueLayout.JAVA_BYTE, pos++); }
                case 2 -> { need(2); int v = seg.get(I16, pos) & 0xffff; pos += 2; yield v; }
                case 3 -> { need(2); int v = seg.get(I16, pos); pos += 2; yield v; }
                case 4, 5 -> i32();
                case 6 -> { need(4); float v = seg.get(F32, pos); pos += 4; yield v; }
                case 7 -> { need(1); yield seg.get(ValueLayout.JAVA_BYTE, pos++) != 0; }
                case 8 -> string();
                case 9 -> array(depth + 1);
                case 10, 11 -> i64();
                case 12 -> { need(8); double v = seg.get(F64, pos); pos += 8; yield v; }
                default -> throw new ModelFormatException(path, "unknown metadata value type " + type + " at byte " + pos);
            };
        }

        /** The fewest bytes one value of {@code type} takes (a string: its length; an array: its type and count). */
        static int minBytes(int type) {
            return switch (type) {
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                case 8, 10, 11, 12 -> 8;
                case 9 -> 12;
                default -> 1; // unknown: fails at its first element
            };
        }

        Object array(int depth) {
            if (depth > MAX_NESTING) throw new ModelFormatException(path, "arrays nested deeper than " + MAX_NESTING + " at byte " + pos);
            int type = i32();
            long count = i64();
            // nothing is allocated for elements the rest of the file cannot hold
            if (count < 0 || count > left() / minBytes(type) || count > Integer.MAX_VALUE - 8) {
                throw new ModelFormatException(path, "array length " + count + " at byte " + pos + " exceeds the file");
            }
            int n = (int) count;
            switch (type) {
                case 4, 5 -> { // token types: one bulk copy, not a boxed value per token
                    need(4L * n);
                    int[] a = seg.asSlice(pos, 4L * n).toArray(I32);
                    pos += 4L * n;
                    return a;
                }
                case 0, 1, 2, 3 -> {
                    int[] a = new int[n];
                    for (int i = 0; i < n; i++) a[i] = (Integer) value(type, depth);
                    return a;
                }
                case 10, 11 -> {
                    long[] a = new long[n];
                    for (int i = 0; i < n; i++) a[i] = i64();
                    return a;
                }
                case 6 -> {
                    need(4L * n);
                    float[] a = seg.asSlice(pos, 4L * n).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
                    pos += 4L * n;
                    return a;
                }
                case 12 -> {
                    need(8L * n);
                    double[] a = seg.asSlice(pos, 8L * n).toArray(ValueLayout.JAVA_DOUBLE_UNALIGNED);
                    pos += 8L * n;
                    return a;
                }
                case 7 -> {
                    boolean[] a = new boolean[n];
                    for (int i = 0; i < n; i++) a[i] = (Boolean) value(type, depth);
                    return a;
                }
                case 8 -> {
                    String[] a = new String[n];
                    for (int i = 0; i < n; i++) a[i] = string();
                    return a;
                }
                default -> {
                    Object[] a = new Object[n];
                    for (int i = 0; i < n; i++) a[i] = value(type, depth);
                    return a;
                }
            }
        }
    }
}
