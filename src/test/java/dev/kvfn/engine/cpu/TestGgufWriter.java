package dev.kvfn.engine.cpu;

import dev.kvfn.model.GgmlType;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Writes small GGUF v3 files for tests (the project has no writer of its own on this branch). */
final class TestGgufWriter {
    private record Entry(String name, long[] shape, GgmlType type, byte[] data) {}

    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final List<Entry> tensors = new ArrayList<>();

    TestGgufWriter put(String key, Object value) {
        metadata.put(key, value);
        return this;
    }

    TestGgufWriter tensor(String name, GgmlType type, byte[] data, long... shape) {
        tensors.add(new Entry(name, shape, type, data));
        return this;
    }

    void write(Path path) throws IOException {
        var out = new ByteArrayOutputStream();
        out.writeBytes(le(8).putInt(0x46554747).putInt(3).array());
        out.writeBytes(le(16).putLong(tensors.size()).putLong(metadata.size()).array());
        for (var e : metadata.entrySet()) {
            string(out, e.getKey());
            switch (e.getValue()) {
                case Integer i -> out.writeBytes(le(8).putInt(4).putInt(i).array()); // UINT32
                case Float f -> out.writeBytes(le(8).putInt(6).putFloat(f).array());
                case String s -> { out.writeBytes(le(4).putInt(8).array()); string(out, s); }
                case String[] arr -> {
                    out.writeBytes(le(16).putInt(9).putInt(8).putLong(arr.length).array());
                    for (String s : arr) string(out, s);
                }
                default -> throw new IllegalArgumentException("unsupported value " + e.getValue());
            }
        }
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (Entry t : tensors) {
            string(out, t.name);
            ByteBuffer b = le(4 + 8 * t.shape.length + 12).putInt(t.shape.length);
            for (long d : t.shape) b.putLong(d);
            b.putInt(t.type.id()).putLong(offset);
            out.writeBytes(b.array());
            offsets.add(offset);
            offset = align(offset + t.data.length);
        }
        pad(out);
        for (Entry t : tensors) {
            out.writeBytes(t.data);
            pad(out);
        }
        Files.write(path, out.toByteArray());
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 32 != 0) out.write(0);
    }

    private static long align(long x) {
        return (x + 31) / 32 * 32;
    }

    private static void string(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeBytes(le(8).putLong(b.length).array());
        out.writeBytes(b);
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}
