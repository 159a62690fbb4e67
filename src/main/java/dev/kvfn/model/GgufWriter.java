package dev.kvfn.model;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes GGUF v3 files byte for byte as llama.cpp's {@code gguf_write_to_file} does: header, metadata in
 * insertion order, tensor infos, zero padding to the alignment, then each tensor's data padded to the
 * alignment (the last one too). Little-endian throughout; shapes in ggml order ({@code shape[0]} = contiguous
 * columns), with trailing 1-dimensions dropped as {@code ggml_n_dims} does.
 *
 * <p>Metadata and tensor declarations are collected first; tensor bytes are pulled from each tensor's
 * {@link TensorData} only while writing, one tensor at a time in declaration order, so a file larger than
 * memory can be written. The alignment comes from {@code general.alignment} (a uint32 power of two) when
 * that key is set, otherwise {@value GgufFile#DEFAULT_ALIGNMENT}.
 *
 * <p>Not supported (llama.cpp's writer rejects them too): nested arrays.
 */
public final class GgufWriter {

    /** GGUF metadata value types with their on-disk ids. */
    public enum ValueType {
        UINT8(0), INT8(1), UINT16(2), INT16(3), UINT32(4), INT32(5), FLOAT32(6), BOOL(7), STRING(8), ARRAY(9),
        UINT64(10), INT64(11), FLOAT64(12);

        private final int id;

        ValueType(int id) { this.id = id; }

        public int id() { return id; }
    }

    /** Produces one tensor's bytes, exactly {@code ggml nbytes} of them, into {@code out} (which it must not close). */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(OutputStream out) throws IOException;
    }

    /** A declared tensor: name, element type, ggml shape, byte length and where its bytes come from. */
    public record TensorEntry(String name, GgmlType type, long[] shape, long bytes, TensorData data) {}

    private record Value(ValueType type, ValueType elementType, Object payload) {}

    private static final int MAX_TENSOR_NAME_BYTES = 63; // GGML_MAX_NAME is 64 including the NUL
    private static final int MAX_DIMS = 4;

    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<TensorEntry> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    // ---- scalar metadata ----------------------------------------------------------------------------

    public GgufWriter putUInt8(String key, int value) {
        return put(key, ValueType.UINT8, null, (long) checkRange(key, value, 0, 0xff));
    }

    public GgufWriter putInt8(String key, int value) {
        return put(key, ValueType.INT8, null, (long) checkRange(key, value, Byte.MIN_VALUE, Byte.MAX_VALUE));
    }

    public GgufWriter putUInt16(String key, int value) {
        return put(key, ValueType.UINT16, null, (long) checkRange(key, value, 0, 0xffff));
    }

    public GgufWriter putInt16(String key, int value) {
        return put(key, ValueType.INT16, null, (long) checkRange(key, value, Short.MIN_VALUE, Short.MAX_VALUE));
    }

    public GgufWriter putUInt32(String key, long value) {
        checkRange(key, value, 0, 0xffff_ffffL);
        if (key.equals("general.alignment")) alignment = checkAlignment(value);
        return put(key, ValueType.UINT32, null, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, ValueType.INT32, null, (long) value);
    }

    /** {@code value} is taken as the unsigned 64-bit pattern. */
    public GgufWriter putUInt64(String key, long value) {
        return put(key, ValueType.UINT64, null, value);
    }

    public GgufWriter putInt64(String key, long value) {
        return put(key, ValueType.INT64, null, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, ValueType.FLOAT32, null, value);
    }

    public GgufWriter putFloat64(String key, double value) {
        return put(key, ValueType.FLOAT64, null, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, ValueType.BOOL, null, value);
    }

    public GgufWriter putString(String key, String value) {
        return put(key, ValueType.STRING, null, Objects.requireNonNull(value, () -> "metadata " + key + ": null string"));
    }

    // ---- array metadata -----------------------------------------------------------------------------

    /** An array of UINT8, INT8, UINT16, INT16, UINT32 or INT32 values (each checked against the type's range). */
    public GgufWriter putIntArray(String key, ValueType elementType, int[] values) {
        long min, max;
        switch (elementType) {
            case UINT8 -> { min = 0; max = 0xff; }
            case INT8 -> { min = Byte.MIN_VALUE; max = Byte.MAX_VALUE; }
            case UINT16 -> { min = 0; max = 0xffff; }
            case INT16 -> { min = Short.MIN_VALUE; max = Short.MAX_VALUE; }
            case UINT32 -> { min = 0; max = Integer.MAX_VALUE; }
            case INT32 -> { min = Integer.MIN_VALUE; max = Integer.MAX_VALUE; }
            default -> throw new IllegalArgumentException("metadata " + key + ": an int[] cannot hold " + elementType
                    + " (use UINT8, INT8, UINT16, INT16, UINT32 or INT32)");
        }
        for (int i = 0; i < values.length; i++) {
            if (values[i] < min || values[i] > max) {
                throw new IllegalArgumentException("metadata " + key + "[" + i + "] = " + values[i]
                        + " is out of range for " + elementType);
            }
        }
        return put(key, ValueType.ARRAY, elementType, values.clone());
    }

    /** An array of UINT32 (checked), UINT64 (unsigned bit patterns) or INT64 values. */
    public GgufWriter putLongArray(String key, ValueType elementType, long[] values) {
        switch (elementType) {
            case UINT32 -> {
                for (int i = 0; i < values.length; i++) checkRange(key + "[" + i + "]", values[i], 0, 0xffff_ffffL);
            }
            case UINT64, INT64 -> { }
            default -> throw new IllegalArgumentException("metadata " + key + ": a long[] cannot hold " + elementType
                    + " (use UINT32, UINT64 or INT64)");
        }
        return put(key, ValueType.ARRAY, elementType, values.clone());
    }

    public GgufWriter putFloat32Array(String key, float[] values) {
        return put(key, ValueType.ARRAY, ValueType.FLOAT32, values.clone());
    }

    public GgufWriter putFloat64Array(String key, double[] values) {
        return put(key, ValueType.ARRAY, ValueType.FLOAT64, values.clone());
    }

    public GgufWriter putBoolArray(String key, boolean[] values) {
        return put(key, ValueType.ARRAY, ValueType.BOOL, values.clone());
    }

    public GgufWriter putStringArray(String key, String[] values) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] == null) throw new IllegalArgumentException("metadata " + key + "[" + i + "] is null");
        }
        return put(key, ValueType.ARRAY, ValueType.STRING, values.clone());
    }

    private GgufWriter put(String key, ValueType type, ValueType elementType, Object payload) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("metadata key must be non-empty");
        if (metadata.containsKey(key)) throw new IllegalArgumentException("duplicate metadata key " + key);
        if (key.equals("general.alignment") && type != ValueType.UINT32) {
            throw new IllegalArgumentException("general.alignment must be a UINT32 (llama.cpp rejects other types)");
        }
        metadata.put(key, new Value(type, elementType, payload));
        return this;
    }

    private static long checkRange(String key, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException("metadata " + key + " = " + value + " is outside [" + min + ", " + max + "]");
        }
        return value;
    }

    private static int checkAlignment(long value) {
        if (value <= 0 || Long.bitCount(value) != 1 || value > (1 << 30)) {
            throw new IllegalArgumentException("general.alignment must be a power of two, got " + value);
        }
        return (int) value;
    }

    // ---- tensors ------------------------------------------------------------------------------------

    /** Declares a tensor whose bytes are already in memory. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, byte[] bytes) {
        long expected = byteLength(name, type, shape);
        if (bytes.length != expected) {
            throw new IllegalArgumentException("tensor " + name + ": " + type + " " + Arrays.toString(shape) + " needs "
                    + expected + " bytes, got " + bytes.length);
        }
        byte[] copy = bytes.clone();
        return addTensor(name, type, shape, out -> out.write(copy));
    }

    /** Declares a tensor whose bytes {@code data} produces when the file is written. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorData data) {
        Objects.requireNonNull(data, "tensor data producer");
        long bytes = byteLength(name, type, shape);
        if (!tensorNames.add(name)) throw new IllegalArgumentException("duplicate tensor name " + name);
        tensors.add(new TensorEntry(name, type, ggmlDims(shape), bytes, data));
        return this;
    }

    private static long byteLength(String name, GgmlType type, long[] shape) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("tensor name must be non-empty");
        if (name.getBytes(StandardCharsets.UTF_8).length > MAX_TENSOR_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name " + name + " is longer than " + MAX_TENSOR_NAME_BYTES + " bytes");
        }
        if (shape == null || shape.length < 1 || shape.length > MAX_DIMS) {
            throw new IllegalArgumentException("tensor " + name + ": shape must have 1 to " + MAX_DIMS + " dimensions, got "
                    + (shape == null ? "null" : Arrays.toString(shape)));
        }
        long elements = 1;
        for (long d : shape) {
            if (d <= 0) throw new IllegalArgumentException("tensor " + name + ": dimensions must be positive, got " + Arrays.toString(shape));
            elements = Math.multiplyExact(elements, d);
        }
        if (shape[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + name + ": " + type + " rows need a multiple of " + type.blockSize()
                    + " columns, shape[0] is " + shape[0]);
        }
        return type.bytesFor(elements);
    }

    /** As {@code ggml_n_dims}: trailing dimensions of 1 are not written (but at least one dimension is). */
    private static long[] ggmlDims(long[] shape) {
        int n = shape.length;
        while (n > 1 && shape[n - 1] == 1) n--;
        return Arrays.copyOf(shape, n);
    }

    public List<TensorEntry> tensors() { return List.copyOf(tensors); }

    public int alignment() { return alignment; }

    // ---- output -------------------------------------------------------------------------------------

    /**
     * Writes the file to {@code out} via a sibling {@code .partial} file that is renamed into place at the end,
     * so a failed or interrupted write never leaves a truncated model under the final name.
     */
    public void write(Path out) throws IOException {
        Path partial = out.resolveSibling(out.getFileName() + ".partial");
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(partial), 1 << 20)) {
            write(os);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(partial);
            throw e;
        }
        try {
            Files.move(partial, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(partial, out, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Writes the whole file to {@code out} (not closed). */
    public void write(OutputStream out) throws IOException {
        HeaderBuffer h = new HeaderBuffer();
        h.u32(GgufFile.MAGIC);
        h.u32(3);
        h.u64(tensors.size());
        h.u64(metadata.size());
        for (Map.Entry<String, Value> kv : metadata.entrySet()) {
            h.string(kv.getKey());
            Value v = kv.getValue();
            h.u32(v.type.id);
            if (v.type == ValueType.ARRAY) h.array(v.elementType, v.payload);
            else h.scalar(v.type, v.payload);
        }
        long offset = 0;
        for (TensorEntry t : tensors) {
            h.string(t.name);
            h.u32(t.shape.length);
            for (long d : t.shape) h.u64(d);
            h.u32(t.type.id());
            h.u64(offset);
            offset += GgufFile.alignUp(t.bytes, alignment);
        }
        h.pad(alignment);
        out.write(h.buf, 0, h.size);

        byte[] zeros = new byte[alignment];
        for (TensorEntry t : tensors) {
            CountingStream counted = new CountingStream(out, t);
            try {
                t.data.writeTo(counted);
            } catch (IOException e) {
                throw new IOException("tensor " + t.name + ": " + e.getMessage(), e);
            }
            if (counted.count != t.bytes) {
                throw new IllegalStateException("tensor " + t.name + ": producer wrote " + counted.count + " bytes, "
                        + t.type + " " + Arrays.toString(t.shape) + " needs " + t.bytes);
            }
            out.write(zeros, 0, (int) (GgufFile.alignUp(t.bytes, alignment) - t.bytes));
        }
        out.flush();
    }

    /** Passes bytes through while counting them, failing as soon as a producer writes too many. */
    private static final class CountingStream extends OutputStream {
        private final OutputStream out;
        private final TensorEntry tensor;
        long count;

        CountingStream(OutputStream out, TensorEntry tensor) {
            this.out = out;
            this.tensor = tensor;
        }

        private void add(long n) {
            count += n;
            if (count > tensor.bytes) {
                throw new IllegalStateException("tensor " + tensor.name + ": producer wrote more than the "
                        + tensor.bytes + " bytes " + tensor.type + " " + Arrays.toString(tensor.shape) + " needs");
            }
        }

        @Override
        public void write(int b) throws IOException {
            add(1);
            out.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            add(len);
            out.write(b, off, len);
        }

        @Override
        public void close() {
            // the file stream belongs to the writer
        }
    }

    /** Growable little-endian buffer for the header (metadata and tensor infos, at most a few MB). */
    private static final class HeaderBuffer {
        byte[] buf = new byte[64 * 1024];
        int size;

        private void ensure(int n) {
            if (size + n > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, size + n));
        }

        void u8(int v) {
            ensure(1);
            buf[size++] = (byte) v;
        }

        void u16(int v) {
            ensure(2);
            buf[size++] = (byte) v;
            buf[size++] = (byte) (v >>> 8);
        }

        void u32(int v) {
            ensure(4);
            for (int i = 0; i < 4; i++) buf[size++] = (byte) (v >>> (8 * i));
        }

        void u64(long v) {
            ensure(8);
            for (int i = 0; i < 8; i++) buf[size++] = (byte) (v >>> (8 * i));
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            ensure(b.length);
            System.arraycopy(b, 0, buf, size, b.length);
            size += b.length;
        }

        void pad(int alignment) {
            int target = (int) GgufFile.alignUp(size, alignment);
            ensure(target - size);
            Arrays.fill(buf, size, target, (byte) 0);
            size = target;
        }

        void scalar(ValueType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> u8((int) (long) (Long) v);
                case UINT16, INT16 -> u16((int) (long) (Long) v);
                case UINT32, INT32 -> u32((int) (long) (Long) v);
                case UINT64, INT64 -> u64((Long) v);
                case FLOAT32 -> u32(Float.floatToRawIntBits((Float) v));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) v));
                case BOOL -> u8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> throw new IllegalStateException("nested arrays are not supported");
            }
        }

        void array(ValueType elementType, Object payload) {
            u32(elementType.id);
            switch (payload) {
                case int[] a -> {
                    u64(a.length);
                    for (int x : a) {
                        switch (elementType) {
                            case UINT8, INT8 -> u8(x);
                            case UINT16, INT16 -> u16(x);
                            default -> u32(x);
                        }
                    }
                }
                case long[] a -> {
                    u64(a.length);
                    for (long x : a) {
                        if (elementType == ValueType.UINT32) u32((int) x);
                        else u64(x);
                    }
                }
                case float[] a -> {
                    u64(a.length);
                    for (float x : a) u32(Float.floatToRawIntBits(x));
                }
                case double[] a -> {
                    u64(a.length);
                    for (double x : a) u64(Double.doubleToRawLongBits(x));
                }
                case boolean[] a -> {
                    u64(a.length);
                    for (boolean x : a) u8(x ? 1 : 0);
                }
                case String[] a -> {
                    u64(a.length);
                    for (String x : a) string(x);
                }
                default -> throw new IllegalStateException("unexpected array payload " + payload.getClass());
            }
        }
    }
}
