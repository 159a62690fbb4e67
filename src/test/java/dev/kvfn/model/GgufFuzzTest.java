package dev.kvfn.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 10 000 hostile GGUF files, derived deterministically (seeded) from the real stories260K.gguf and a
 * small synthetic one: byte flips, truncations, length fields inflated to huge or negative values
 * (anywhere in the header, and aimed at tensor dimensions), and a metadata value turned into deeply
 * nested arrays. Opening each (and reading every metadata value and tensor) either fails with a
 * {@link ModelFormatException} or succeeds with every tensor exactly as large as its shape says: no
 * overflow (silent or thrown), no out-of-memory from a hostile count, no stack overflow.
 */
class GgufFuzzTest {
    static final int FILES = 10_000, FROM_STORIES = 1_500;
    static final Path STORIES = Path.of("..", "shared", "models", "stories260K.gguf");

    @TempDir
    Path dir;

    /** A small GGUF with every kind of metadata value and two tensors. */
    static byte[] synthetic() throws Exception {
        var w = new GgufWriter().putString("general.architecture", "llama").putUInt32("llama.block_count", 1)
                .putInt32("i32", -5).putUInt64("u64", 1L << 40).putFloat32("f", 1.5f).putFloat64("d", 2.5).putBool("b", true)
                .putIntArray("ints", GgufWriter.ValueType.INT32, new int[] {1, 2, 3})
                .putLongArray("longs", GgufWriter.ValueType.UINT64, new long[] {4, 5})
                .putFloat32Array("floats", new float[] {1, 2}).putFloat64Array("doubles", new double[] {3})
                .putBoolArray("bools", new boolean[] {true, false}).putStringArray("strings", new String[] {"a", "bc", ""});
        w.addTensor("t.weight", GgmlType.F32, new long[] {8, 4}, new byte[8 * 4 * 4]);
        w.addTensor("q.weight", GgmlType.Q8_0, new long[] {32, 2}, new byte[2 * 34]);
        var out = new java.io.ByteArrayOutputStream();
        w.write(out);
        return out.toByteArray();
    }

    /** Where a source file's fields are: mutations aim there. */
    record Fields(int headerEnd, int firstValueType, int[] dims) {}

    static Fields fields(Path file, byte[] bytes) {
        try (GgufFile g = GgufFile.open(file)) {
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            int firstValueType = 32 + (int) b.getLong(24); // header, then the first key's length and text
            List<Integer> dims = new ArrayList<>();
            for (String name : g.tensors().keySet()) { // each tensor info: length, name, dimension count, dimensions
                byte[] n = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                int at = indexOf(bytes, n, (int) g.dataOffset());
                if (at >= 8 && b.getLong(at - 8) == n.length) dims.add(at + n.length + 4);
            }
            return new Fields((int) g.dataOffset(), firstValueType, dims.stream().mapToInt(Integer::intValue).toArray());
        }
    }

    static int indexOf(byte[] hay, byte[] needle, int end) {
        outer:
        for (int i = 0; i + needle.length <= end; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    static byte[] mutate(byte[] original, Fields fields, Random rnd) {
        byte[] b = original.clone();
        int headerEnd = fields.headerEnd();
        int kind = rnd.nextInt(20);
        if (kind == 18) { // the first metadata value made an array of arrays of ... thousands deep
            ByteBuffer f = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            int at = fields.firstValueType(), depth = 100 + rnd.nextInt(5000);
            for (int d = 0; d < depth && at + 16 <= b.length; d++, at += 12) f.putInt(at, 9).putInt(at + 4, 9).putLong(at + 8, 1);
            return b;
        }
        if (kind == 19 && fields.dims().length > 0) { // a tensor dimension inflated so the shape's product overflows
            ByteBuffer f = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            int at = fields.dims()[rnd.nextInt(fields.dims().length)];
            long[] huge = {1L << 62, 1L << 63, 1L << 32, 1L << 61, -1L, Long.MAX_VALUE};
            f.putLong(at, huge[rnd.nextInt(huge.length)]);
            if (rnd.nextBoolean()) f.putLong(at + 8, 1L << 32);
            return b;
        }
        kind %= 4;
        int rounds = 1 + rnd.nextInt(kind == 3 ? 6 : 2);
        for (int r = 0; r < rounds; r++) {
            int at = rnd.nextInt(10) < 9 ? rnd.nextInt(headerEnd) : rnd.nextInt(b.length);
            switch (kind) {
                case 0 -> b[at] ^= (byte) (1 << rnd.nextInt(8)); // one bit
                case 1 -> b[at] = (byte) rnd.nextInt(256); // one byte
                case 2 -> { // a length, count, dimension, offset or type field inflated
                    ByteBuffer f = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                    int pos = Math.min(at & ~3, b.length - 8);
                    long v = switch (rnd.nextInt(6)) {
                        case 0 -> -1L;
                        case 1 -> Long.MAX_VALUE - rnd.nextInt(16);
                        case 2 -> 1L << (8 + rnd.nextInt(56));
                        case 3 -> Integer.MAX_VALUE;
                        case 4 -> 9; // the array type: nesting
                        default -> rnd.nextLong();
                    };
                    if (rnd.nextBoolean()) f.putLong(pos, v);
                    else f.putInt(pos, (int) v);
                }
                default -> b[at] = (byte) rnd.nextInt(256);
            }
        }
        if (kind == 3 || rnd.nextInt(8) == 0) { // truncated, mostly inside the header
            int cut = rnd.nextInt(4) == 0 ? rnd.nextInt(b.length) : rnd.nextInt(headerEnd + 1);
            b = java.util.Arrays.copyOf(b, cut);
        }
        return b;
    }

    /**
     * Opens it and reads everything a loader would; returns normally or with a ModelFormatException.
     *
     * @throws AssertionError when it loaded a tensor whose bytes are not what its shape and type say (computed exactly)
     */
    static void load(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            for (var e : g.metadata().entrySet()) {
                if (e.getValue() instanceof Number) g.real(e.getKey(), 0f);
            }
            for (Tensor t : g.tensors().values()) {
                java.math.BigInteger elements = java.math.BigInteger.ONE;
                for (long d : t.shape()) elements = elements.multiply(java.math.BigInteger.valueOf(d));
                java.math.BigInteger bytes = elements.divide(java.math.BigInteger.valueOf(t.type().blockSize()))
                        .multiply(java.math.BigInteger.valueOf(t.type().bytesPerBlock()));
                if (!bytes.equals(java.math.BigInteger.valueOf(t.data().byteSize()))) {
                    throw new AssertionError("tensor " + t.name() + " of shape " + java.util.Arrays.toString(t.shape()) + " loaded with "
                            + t.data().byteSize() + " bytes, not " + bytes);
                }
                if (t.data().byteSize() > 0) t.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, t.data().byteSize() - 1);
            }
        }
    }

    @Test
    void tenThousandMutatedFilesFailOnlyWithModelFormatException() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(STORIES),
                "the shared model " + STORIES.toAbsolutePath() + " is absent: skipped, as every model test");
        byte[] stories = Files.readAllBytes(STORIES);
        byte[] small = synthetic();
        Path smallFile = Files.write(dir.resolve("small.gguf"), small);
        Fields storiesFields = fields(STORIES, stories), smallFields = fields(smallFile, small);
        assertTrue(storiesFields.dims().length > 0 && smallFields.dims().length == 2, "tensor dimensions found");
        Path file = dir.resolve("mutant.gguf");
        List<String> escaped = new ArrayList<>();
        int loaded = 0, refused = 0;
        for (int i = 0; i < FILES; i++) {
            boolean fromStories = i < FROM_STORIES;
            Random rnd = new Random(0x6b76666eL * 31 + i);
            byte[] mutant = mutate(fromStories ? stories : small, fromStories ? storiesFields : smallFields, rnd);
            Files.write(file, mutant);
            try {
                load(file);
                loaded++;
            } catch (ModelFormatException e) {
                refused++;
            } catch (Throwable t) { // anything else, errors included, is a bug
                if (escaped.size() < 10) escaped.add("file " + i + " (" + (fromStories ? "stories" : "synthetic") + "): " + t);
                else if (escaped.size() == 10) escaped.add("...");
            }
        }
        assertTrue(escaped.isEmpty(), "escaped the parser's error handling:\n" + String.join("\n", escaped));
        assertTrue(refused > FILES / 4 && loaded > 0, "the mutations reach the parser both ways: " + refused + " refused, " + loaded + " loaded");
    }
}
