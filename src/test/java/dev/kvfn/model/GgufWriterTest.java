package dev.kvfn.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvfn.model.GgufWriter.ValueType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufWriterTest {

    @TempDir
    Path dir;

    @Test
    void everyMetadataTypeRoundTripsThroughTheReader() throws IOException {
        GgufWriter w = new GgufWriter()
                .putUInt8("u8", 255)
                .putInt8("i8", -128)
                .putUInt16("u16", 65535)
                .putInt16("i16", -32768)
                .putUInt32("u32", 0xffff_fffeL)
                .putInt32("i32", Integer.MIN_VALUE)
                .putUInt64("u64", -2L) // 2^64 - 2 as an unsigned bit pattern
                .putInt64("i64", Long.MIN_VALUE + 7)
                .putFloat32("f32", -1.5e-5f)
                .putFloat64("f64", Math.PI)
                .putBool("yes", true)
                .putBool("no", false)
                .putString("str", "héllo ▁wörld ✓")
                .putString("empty", "")
                .putIntArray("a.u8", ValueType.UINT8, new int[] {0, 1, 255})
                .putIntArray("a.i8", ValueType.INT8, new int[] {-128, 0, 127})
                .putIntArray("a.u16", ValueType.UINT16, new int[] {0, 65535})
                .putIntArray("a.i16", ValueType.INT16, new int[] {-32768, 32767})
                .putIntArray("a.u32", ValueType.UINT32, new int[] {0, Integer.MAX_VALUE})
                .putIntArray("a.i32", ValueType.INT32, new int[] {Integer.MIN_VALUE, -1, 6})
                .putLongArray("a.u32big", ValueType.UINT32, new long[] {0xffff_ffffL})
                .putLongArray("a.u64", ValueType.UINT64, new long[] {-1L, 3})
                .putLongArray("a.i64", ValueType.INT64, new long[] {Long.MIN_VALUE, Long.MAX_VALUE})
                .putFloat32Array("a.f32", new float[] {1f, -0f, Float.MIN_VALUE})
                .putFloat64Array("a.f64", new double[] {Double.MAX_VALUE, -2.25})
                .putBoolArray("a.bool", new boolean[] {true, false, true})
                .putStringArray("a.str", new String[] {"<unk>", "", "▁the", "<0x0A>"})
                .putFloat32Array("a.empty", new float[0]);
        Path file = dir.resolve("meta.gguf");
        w.write(file);

        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(3, g.version());
            assertEquals(28, g.metadata().size());
            assertEquals(255L, g.integer("u8"));
            assertEquals(-128L, g.integer("i8"));
            assertEquals(65535L, g.integer("u16"));
            assertEquals(-32768L, g.integer("i16"));
            assertEquals(0xffff_fffeL, Integer.toUnsignedLong((Integer) g.metadata().get("u32")));
            assertEquals((long) Integer.MIN_VALUE, g.integer("i32"));
            assertEquals(-2L, g.integer("u64"));
            assertEquals(Long.MIN_VALUE + 7, g.integer("i64"));
            assertEquals(-1.5e-5f, g.metadata().get("f32"));
            assertEquals(Math.PI, g.metadata().get("f64"));
            assertEquals(true, g.metadata().get("yes"));
            assertEquals(false, g.metadata().get("no"));
            assertEquals("héllo ▁wörld ✓", g.string("str"));
            assertEquals("", g.string("empty"));
            assertArrayEquals(new int[] {0, 1, 255}, g.array("a.u8", int[].class));
            assertArrayEquals(new int[] {-128, 0, 127}, g.array("a.i8", int[].class));
            assertArrayEquals(new int[] {0, 65535}, g.array("a.u16", int[].class));
            assertArrayEquals(new int[] {-32768, 32767}, g.array("a.i16", int[].class));
            assertArrayEquals(new int[] {0, Integer.MAX_VALUE}, g.array("a.u32", int[].class));
            assertArrayEquals(new int[] {Integer.MIN_VALUE, -1, 6}, g.array("a.i32", int[].class));
            assertArrayEquals(new int[] {-1}, g.array("a.u32big", int[].class)); // 0xffffffff as the reader's raw int
            assertArrayEquals(new long[] {-1L, 3}, g.array("a.u64", long[].class));
            assertArrayEquals(new long[] {Long.MIN_VALUE, Long.MAX_VALUE}, g.array("a.i64", long[].class));
            assertArrayEquals(new float[] {1f, -0f, Float.MIN_VALUE}, g.array("a.f32", float[].class));
            assertArrayEquals(new double[] {Double.MAX_VALUE, -2.25}, g.array("a.f64", double[].class));
            assertArrayEquals(new boolean[] {true, false, true}, g.array("a.bool", boolean[].class));
            assertArrayEquals(new String[] {"<unk>", "", "▁the", "<0x0A>"}, g.array("a.str", String[].class));
            assertEquals(0, g.array("a.empty", float[].class).length);
            // metadata order is insertion order, as llama.cpp writes it
            assertEquals("u8", g.metadata().keySet().iterator().next());
        }
    }

    @Test
    void tensorsOfEveryTypeRoundTripWithAlignedOffsets() throws IOException {
        for (int alignment : new int[] {32, 64, 8}) {
            Random rnd = new Random(alignment);
            GgufWriter w = new GgufWriter().putUInt32("general.alignment", alignment);
            byte[][] expected = new byte[GgmlType.values().length][];
            long[][] shapes = new long[expected.length][];
            for (GgmlType type : GgmlType.values()) {
                int i = type.ordinal();
                // odd row counts and 1..4 dimensions, so byte lengths are rarely multiples of the alignment
                shapes[i] = switch (i % 4) {
                    case 0 -> new long[] {type.blockSize() * 3L};
                    case 1 -> new long[] {type.blockSize(), 5};
                    case 2 -> new long[] {type.blockSize() * 2L, 3, 7};
                    default -> new long[] {type.blockSize(), 3, 1, 5};
                };
                long elements = 1;
                for (long d : shapes[i]) elements *= d;
                expected[i] = new byte[(int) type.bytesFor(elements)];
                rnd.nextBytes(expected[i]);
                if (i % 2 == 0) {
                    w.addTensor("t." + type, type, shapes[i], expected[i]);
                } else {
                    byte[] bytes = expected[i];
                    // a streaming producer that hands its bytes over in uneven pieces
                    w.addTensor("t." + type, type, shapes[i], out -> {
                        out.write(bytes[0]);
                        out.write(bytes, 1, bytes.length / 2);
                        out.write(bytes, 1 + bytes.length / 2, bytes.length - 1 - bytes.length / 2);
                    });
                }
            }
            Path file = dir.resolve("tensors-" + alignment + ".gguf");
            w.write(file);

            try (GgufFile g = GgufFile.open(file)) {
                assertEquals(0, g.dataOffset() % alignment, "data section aligned");
                long expectedEnd = g.dataOffset();
                for (GgmlType type : GgmlType.values()) {
                    int i = type.ordinal();
                    Tensor t = g.tensor("t." + type);
                    assertEquals(type, t.type());
                    assertArrayEquals(shapes[i], t.shape(), "shape of " + t.name());
                    long offset = t.data().address() - g.mapping().address();
                    assertEquals(expectedEnd, offset, "tensors are packed in declaration order");
                    assertEquals(0, offset % alignment, "offset of " + t.name() + " aligned to " + alignment);
                    assertArrayEquals(expected[i], t.data().toArray(ValueLayout.JAVA_BYTE), "bytes of " + t.name());
                    expectedEnd = GgufFile.alignUp(offset + expected[i].length, alignment);
                }
                assertEquals(expectedEnd, Files.size(file), "the last tensor is padded too");
            }
        }
    }

    @Test
    void layoutIsExactlyTheGgufV3Encoding() throws IOException {
        byte[] data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; // F32 {3}: 12 bytes, padded to 32
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new GgufWriter().putUInt32("n", 7).putString("s", "ab")
                .addTensor("w", GgmlType.F32, new long[] {3, 1}, data) // trailing 1 is dropped as ggml_n_dims does
                .write(out);

        ByteBuffer e = ByteBuffer.allocate(160).order(ByteOrder.LITTLE_ENDIAN);
        e.put("GGUF".getBytes(StandardCharsets.US_ASCII)).putInt(3).putLong(1).putLong(2);
        e.putLong(1).put((byte) 'n').putInt(4).putInt(7);
        e.putLong(1).put((byte) 's').putInt(8).putLong(2).put("ab".getBytes(StandardCharsets.US_ASCII));
        e.putLong(1).put((byte) 'w').putInt(1).putLong(3).putInt(0).putLong(0);
        int header = e.position();
        assertEquals(97, header); // 24 header + 17 + 23 metadata + 33 tensor info
        e.position(128).put(data).position(160);
        byte[] expected = new byte[160];
        e.flip().get(expected);
        assertArrayEquals(expected, out.toByteArray());
    }

    @Test
    void producerWritingTheWrongByteCountFailsAndLeavesNoFile() {
        Path file = dir.resolve("short.gguf");
        GgufWriter shortWriter = new GgufWriter().addTensor("w", GgmlType.Q8_0, new long[] {32, 2}, out -> out.write(new byte[67]));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> shortWriter.write(file));
        assertTrue(e.getMessage().contains("tensor w") && e.getMessage().contains("wrote 67 bytes") && e.getMessage().contains("needs 68"),
                e.getMessage());
        assertFalse(Files.exists(file));
        assertFalse(Files.exists(dir.resolve("short.gguf.partial")));

        GgufWriter longWriter = new GgufWriter().addTensor("w", GgmlType.F16, new long[] {4}, out -> out.write(new byte[9]));
        e = assertThrows(IllegalStateException.class, () -> longWriter.write(file));
        assertTrue(e.getMessage().contains("more than the 8 bytes"), e.getMessage());
        assertFalse(Files.exists(file));
    }

    @Test
    void badDeclarationsAreRejectedWithClearMessages() {
        GgufWriter w = new GgufWriter().putUInt32("k", 1);
        assertMessage(IllegalArgumentException.class, "duplicate metadata key k", () -> w.putString("k", "x"));
        assertMessage(IllegalArgumentException.class, "outside [0, 255]", () -> w.putUInt8("b", 256));
        assertMessage(IllegalArgumentException.class, "a.i8[1] = 200 is out of range for INT8",
                () -> w.putIntArray("a.i8", ValueType.INT8, new int[] {0, 200}));
        assertMessage(IllegalArgumentException.class, "cannot hold FLOAT32",
                () -> w.putIntArray("a", ValueType.FLOAT32, new int[] {1}));
        assertMessage(IllegalArgumentException.class, "power of two, got 48", () -> w.putUInt32("general.alignment", 48));
        assertMessage(IllegalArgumentException.class, "general.alignment must be a UINT32",
                () -> w.putUInt64("general.alignment", 64));
        assertMessage(IllegalArgumentException.class, "Q4_0 rows need a multiple of 32 columns, shape[0] is 48",
                () -> w.addTensor("q", GgmlType.Q4_0, new long[] {48, 2}, new byte[54]));
        assertMessage(IllegalArgumentException.class, "needs 8 bytes, got 7",
                () -> w.addTensor("f", GgmlType.F32, new long[] {2}, new byte[7]));
        assertMessage(IllegalArgumentException.class, "1 to 4 dimensions",
                () -> w.addTensor("f", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, new byte[4]));
        assertMessage(IllegalArgumentException.class, "dimensions must be positive",
                () -> w.addTensor("f", GgmlType.F32, new long[] {2, 0}, new byte[0]));
        assertMessage(IllegalArgumentException.class, "longer than 63 bytes",
                () -> w.addTensor("x".repeat(64), GgmlType.F32, new long[] {1}, new byte[4]));
        w.addTensor("f", GgmlType.F32, new long[] {1}, new byte[4]);
        assertMessage(IllegalArgumentException.class, "duplicate tensor name f",
                () -> w.addTensor("f", GgmlType.F32, new long[] {1}, new byte[4]));
    }

    @Test
    void truncatedFileFailsToOpenWithAMessageNamingTheFile() throws IOException {
        Path file = dir.resolve("cut.gguf");
        new GgufWriter().putString("general.architecture", "llama")
                .addTensor("a", GgmlType.F32, new long[] {64}, new byte[256])
                .addTensor("b", GgmlType.F32, new long[] {64}, new byte[256])
                .write(file);
        try (GgufFile g = GgufFile.open(file)) {
            assertEquals(2, g.tensors().size());
        }
        long full = Files.size(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(full - 40); // inside tensor b
        }
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufFile.open(file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("tensor b"), e.getMessage());

        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(30); // inside the metadata
        }
        e = assertThrows(ModelFormatException.class, () -> GgufFile.open(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("truncated header"), e.getMessage());
    }

    private static void assertMessage(Class<? extends Throwable> type, String fragment, org.junit.jupiter.api.function.Executable call) {
        Throwable t = assertThrows(type, call);
        assertTrue(t.getMessage().contains(fragment), "expected '" + fragment + "' in: " + t.getMessage());
    }
}
