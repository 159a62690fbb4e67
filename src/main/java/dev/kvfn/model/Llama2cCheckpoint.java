package dev.kvfn.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A llama2.c ("legacy export") checkpoint mapped read-only: a header of 7 int32 followed by F32
 * weights. The weights are exposed as F32 {@link Tensor}s under the GGUF tensor names
 * ({@code token_embd.weight}, {@code blk.N.attn_q.weight}, ...) so one weight loader serves both
 * formats. Nothing is copied to the heap.
 */
public final class Llama2cCheckpoint implements AutoCloseable {
    private static final int HEADER_BYTES = 7 * 4;
    /** "ak42": the versioned llama2.c export, which this reader does not handle. */
    private static final int VERSIONED_MAGIC = 0x616b3432;

    /**
     * The header as llama2.c writes it; a negative vocabulary size on disk means the classifier is
     * stored separately ({@code sharedClassifier == false}).
     */
    public record Header(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocab, int seqLen,
                         boolean sharedClassifier) {
        public int headSize() { return dim / heads; }
        public int kvDim() { return kvHeads * headSize(); }
    }

    private final Path path;
    private final Arena arena;
    private final Header header;
    private final Map<String, Tensor> tensors;

    private Llama2cCheckpoint(Path path, Arena arena, Header header, Map<String, Tensor> tensors) {
        this.path = path;
        this.arena = arena;
        this.header = header;
        this.tensors = tensors;
    }

    /** Maps {@code path}; a missing, truncated or implausible file is a {@link ModelFormatException} naming it. */
    public static Llama2cCheckpoint open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Header header = readHeader(path, seg);
            return new Llama2cCheckpoint(path, arena, header, mapTensors(path, seg, header));
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path, "cannot read llama2.c checkpoint: " + FileErrors.describe(e), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Header readHeader(Path path, MemorySegment seg) {
        if (seg.byteSize() < HEADER_BYTES) {
            throw new ModelFormatException(path, "truncated llama2.c checkpoint: " + seg.byteSize()
                    + " bytes, the header alone needs " + HEADER_BYTES);
        }
        int[] h = new int[7];
        for (int i = 0; i < 7; i++) h[i] = seg.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
        if (h[0] == VERSIONED_MAGIC) {
            throw new ModelFormatException(path, "versioned llama2.c export (magic ak42) is not supported; use the legacy export");
        }
        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], vocab = Math.abs(h[5]), seqLen = h[6];
        String bad = null;
        if (dim < 1 || dim > 65_536) bad = "dim " + dim;
        else if (hidden < 1 || hidden > 1 << 20) bad = "hidden_dim " + hidden;
        else if (layers < 1 || layers > 1024) bad = "n_layers " + layers;
        else if (heads < 1 || dim % heads != 0) bad = "n_heads " + heads + " (must divide dim " + dim + ")";
        else if (kvHeads < 1 || heads % kvHeads != 0) bad = "n_kv_heads " + kvHeads + " (must divide n_heads " + heads + ")";
        else if (vocab < 1 || vocab > 1 << 22) bad = "vocab_size " + h[5];
        else if (seqLen < 1 || seqLen > 1 << 22) bad = "seq_len " + seqLen;
        else if ((dim / heads) % 2 != 0) bad = "head size " + dim / heads + " (must be even for RoPE)";
        if (bad != null) throw new ModelFormatException(path, "not a llama2.c checkpoint: implausible header, " + bad);
        return new Header(dim, hidden, layers, heads, kvHeads, vocab, seqLen, h[5] > 0);
    }

    private static Map<String, Tensor> mapTensors(Path path, MemorySegment seg, Header c) {
        int dim = c.dim(), kvDim = c.kvDim(), hidden = c.hiddenDim(), layers = c.layers();
        long expected = HEADER_BYTES + 4L * ((long) c.vocab() * dim
                + (long) layers * (2L * dim + 2L * dim * dim + 2L * dim * kvDim + 3L * dim * hidden)
                + dim + (long) c.seqLen() * c.headSize()
                + (c.sharedClassifier() ? 0 : (long) c.vocab() * dim));
        if (seg.byteSize() != expected) {
            throw new ModelFormatException(path, (seg.byteSize() < expected ? "truncated" : "unexpected trailing data")
                    + ": the header (dim " + dim + ", hidden " + hidden + ", layers " + layers + ", vocab " + c.vocab()
                    + ", seq_len " + c.seqLen() + ") implies " + expected + " bytes but the file has " + seg.byteSize());
        }
        var out = new LinkedHashMap<String, Tensor>();
        var cursor = new long[] {HEADER_BYTES};
        // Order and shapes as llama2.c's memory_map_weights; each stacked array is cut per layer.
        Tensor embedding = take(seg, cursor, "token_embd.weight", dim, c.vocab());
        out.put(embedding.name(), embedding);
        perLayer(seg, cursor, out, layers, "attn_norm", dim, 1);
        perLayer(seg, cursor, out, layers, "attn_q", dim, dim);
        perLayer(seg, cursor, out, layers, "attn_k", dim, kvDim);
        perLayer(seg, cursor, out, layers, "attn_v", dim, kvDim);
        perLayer(seg, cursor, out, layers, "attn_output", dim, dim);
        perLayer(seg, cursor, out, layers, "ffn_norm", dim, 1);
        perLayer(seg, cursor, out, layers, "ffn_gate", dim, hidden);
        perLayer(seg, cursor, out, layers, "ffn_down", hidden, dim);
        perLayer(seg, cursor, out, layers, "ffn_up", dim, hidden);
        Tensor norm = take(seg, cursor, "output_norm.weight", dim, 1);
        out.put(norm.name(), norm);
        // freq_cis_real / freq_cis_imag: RoPE tables the forward pass computes itself.
        cursor[0] += 4L * c.seqLen() * c.headSize();
        if (!c.sharedClassifier()) {
            Tensor cls = take(seg, cursor, "output.weight", dim, c.vocab());
            out.put(cls.name(), cls);
        }
        return Collections.unmodifiableMap(out);
    }

    private static void perLayer(MemorySegment seg, long[] cursor, Map<String, Tensor> out, int layers, String name,
                                 int cols, int rows) {
        for (int l = 0; l < layers; l++) {
            String full = "blk." + l + "." + name + ".weight";
            out.put(full, take(seg, cursor, full, cols, rows));
        }
    }

    private static Tensor take(MemorySegment seg, long[] cursor, String name, int cols, int rows) {
        long bytes = 4L * cols * rows;
        long[] shape = rows == 1 ? new long[] {cols} : new long[] {cols, rows};
        Tensor t = new Tensor(name, GgmlType.F32, shape, seg.asSlice(cursor[0], bytes));
        cursor[0] += bytes;
        return t;
    }

    public Path path() { return path; }

    public Header header() { return header; }

    /** Tensors under GGUF names; {@code output.weight} is absent when the classifier is shared. */
    public Map<String, Tensor> tensors() { return tensors; }

    @Override
    public void close() {
        arena.close();
    }
}
