package dev.kvfn.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * What a KV cache entry is valid for: a SHA-256 that changes whenever the model's computation could.
 * It covers, in this order: the file size; for a GGUF every byte before the tensor data (header,
 * all metadata, the tensor table with names, types, shapes and offsets), for any other file its first
 * MiB (a llama2.c header and the start of its weights); then {@value #SAMPLES} evenly spaced
 * {@value #SAMPLE_BYTES}-byte samples of the weight bytes and the last {@value #SAMPLE_BYTES} bytes.
 * A re-quantized, fine-tuned, truncated or re-laid-out model changes it; reading the samples costs
 * at most {@code 257 x 64 KiB} (16 MiB) whatever the model size, so start-up stays fast. Not covered:
 * an edit confined to weight bytes between the samples (about 1.4% of a 1 GB file is read) — a
 * deliberate trade for start-up time, stated where the key format is documented.
 */
public record ModelFingerprint(byte[] digest) {
    public static final int SAMPLES = 256;
    public static final int SAMPLE_BYTES = 64 * 1024;
    private static final byte[] DOMAIN = "kvfn-model-fingerprint/1".getBytes(StandardCharsets.US_ASCII);

    public ModelFingerprint {
        if (digest == null || digest.length != 32) throw new IllegalArgumentException("a model fingerprint is 32 bytes");
        digest = digest.clone();
    }

    @Override
    public byte[] digest() {
        return digest.clone();
    }

    public String hex() {
        return HexFormat.of().formatHex(digest);
    }

    /** The first 16 hex digits: enough to name a directory or a Redis namespace. */
    public String shortHex() {
        return hex().substring(0, 16);
    }

    /** A GGUF's fingerprint: everything before its tensor data, then the samples. */
    public static ModelFingerprint of(GgufFile gguf) {
        return of(gguf.path(), gguf.dataOffset());
    }

    /**
     * This fingerprint for the same file run differently ({@code what} names how, e.g. a RoPE factor set the
     * context picks): a different digest, so K/V computed one way never serves the other.
     */
    public ModelFingerprint variant(String what) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(DOMAIN);
            sha.update(digest);
            sha.update(what.getBytes(StandardCharsets.UTF_8));
            return new ModelFingerprint(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** A llama2.c checkpoint's fingerprint: its first MiB (header and the start of the weights), then the samples. */
    public static ModelFingerprint ofCheckpoint(Path checkpoint) {
        return of(checkpoint, 1 << 20);
    }

    private static ModelFingerprint of(Path model, long headerBytes) {
        try (FileChannel ch = FileChannel.open(model, StandardOpenOption.READ)) {
            long size = ch.size();
            long headerEnd = Math.min(size, headerBytes);
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(DOMAIN);
            sha.update(ByteBuffer.allocate(8).putLong(0, size));
            read(ch, 0, headerEnd, sha);
            long weights = size - headerEnd;
            if (weights > 0) {
                if (weights <= (long) (SAMPLES + 1) * SAMPLE_BYTES) {
                    read(ch, headerEnd, weights, sha);
                } else {
                    long stride = (weights - SAMPLE_BYTES) / SAMPLES;
                    for (int i = 0; i < SAMPLES; i++) read(ch, headerEnd + i * stride, SAMPLE_BYTES, sha);
                    read(ch, size - SAMPLE_BYTES, SAMPLE_BYTES, sha);
                }
            }
            return new ModelFingerprint(sha.digest());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot fingerprint " + model + ": " + FileErrors.describe(e), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static void read(FileChannel ch, long position, long length, MessageDigest sha) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
        for (long done = 0; done < length; ) {
            buf.clear().limit((int) Math.min(buf.capacity(), length - done));
            int n = ch.read(buf, position + done);
            if (n < 0) throw new IOException("file ended at byte " + (position + done) + " while fingerprinting");
            buf.flip();
            sha.update(buf);
            done += n;
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelFingerprint f && java.util.Arrays.equals(f.digest, digest);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(digest);
    }

    @Override
    public String toString() {
        return shortHex();
    }
}
