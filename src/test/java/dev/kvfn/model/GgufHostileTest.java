package dev.kvfn.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Crafted GGUF headers that used to escape the parser's error handling or load as nonsense. */
class GgufHostileTest {
    @TempDir
    Path dir;

    /** A little-endian GGUF v3 header writer. */
    static final class Raw {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Raw i32(int v) { out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array()); return this; }
        Raw i64(long v) { out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array()); return this; }
        Raw str(String s) { byte[] b = s.getBytes(StandardCharsets.UTF_8); i64(b.length); out.writeBytes(b); return this; }
        Raw head(long tensors, long kvs) { return i32(GgufFile.MAGIC).i32(3).i64(tensors).i64(kvs); }
        Raw pad(int n) { out.writeBytes(new byte[n]); return this; }
        byte[] bytes() { return out.toByteArray(); }
    }

    ModelFormatException refused(byte[] file) throws Exception {
        Path p = Files.write(dir.resolve("hostile-" + System.nanoTime() + ".gguf"), file);
        return assertThrows(ModelFormatException.class, () -> GgufFile.open(p).close());
    }

    @Test
    void deeplyNestedArraysAreRefusedNotAStackOverflow() throws Exception {
        Raw r = new Raw().head(0, 1).str("nested").i32(9);
        for (int i = 0; i < 100_000; i++) r.i32(9).i64(1); // array of (array of (array of ...
        r.i32(4).i64(0);
        var e = refused(r.bytes());
        assertTrue(e.getMessage().contains("nested deeper than " + GgufFile.MAX_NESTING), e.getMessage());
        // within the limit it parses
        Raw ok = new Raw().head(0, 1).str("nested").i32(9).i32(9).i64(1).i32(9).i64(1).i32(4).i64(2).i32(7).i32(8).pad(64);
        Path p = Files.write(dir.resolve("nested-ok.gguf"), ok.bytes());
        try (GgufFile g = GgufFile.open(p)) {
            Object[] outer = g.array("nested", Object[].class);
            assertEquals(8, ((int[]) ((Object[]) outer[0])[0])[1]);
        }
    }

    @Test
    void aShapeWhoseProductOverflowsIsRefused() throws Exception {
        // [2^32, 2^32] F32: the product wraps to 0 and used to load as a 0-byte tensor
        byte[] huge = new Raw().head(1, 0).str("w").i32(2).i64(1L << 32).i64(1L << 32).i32(GgmlType.F32.id()).i64(0).pad(64).bytes();
        var e = refused(huge);
        assertTrue(e.getMessage().contains("larger than any file"), e.getMessage());
        // [2^31, 2^31, 4] F32: elements fit a long, bytes do not
        refused(new Raw().head(1, 0).str("w").i32(3).i64(1L << 31).i64(1L << 31).i64(4).i32(GgmlType.F32.id()).i64(0).pad(64).bytes());
        // a sane shape at an offset that overflows with the data start
        refused(new Raw().head(1, 0).str("w").i32(1).i64(8).i32(GgmlType.F32.id()).i64(Long.MAX_VALUE - 3).pad(64).bytes());
        // negative and zero dimensions
        refused(new Raw().head(1, 0).str("w").i32(2).i64(-1).i64(-8).i32(GgmlType.F32.id()).i64(0).pad(64).bytes());
        refused(new Raw().head(1, 0).str("w").i32(1).i64(0).i32(GgmlType.F32.id()).i64(0).pad(64).bytes());
    }

    @Test
    void countsBeyondWhatTheFileCanHoldAreRefusedBeforeAnythingIsAllocated() throws Exception {
        // 1 M string array entries claimed in a 100-byte file: no String[1_000_000]
        var e = refused(new Raw().head(0, 1).str("a").i32(9).i32(8).i64(1_000_000).pad(64).bytes());
        assertTrue(e.getMessage().contains("exceeds the file"), e.getMessage());
        // 10 M nested arrays (12 bytes each at least) in a file of a few MB
        refused(new Raw().head(0, 1).str("a").i32(9).i32(9).i64(10_000_000).pad(4 << 20).bytes());
        // header counts no file of this size can hold
        var counts = refused(new Raw().head(900_000, 900_000).pad(64).bytes());
        assertTrue(counts.getMessage().contains("cannot fit in a file of"), counts.getMessage());
        // alignment that is not a power of two
        refused(new Raw().head(0, 1).str("general.alignment").i32(4).i32(0).pad(64).bytes());
        refused(new Raw().head(0, 1).str("general.alignment").i32(4).i32(24).pad(64).bytes());
    }
}
