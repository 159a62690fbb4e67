package dev.kvfn.kv.tier;

import dev.kvfn.kv.seal.KvSecret;

import java.nio.file.Path;

/**
 * Where and how big the host KV tier is.
 *
 * @param directory     base directory; the store lives in {@code <directory>/<model fingerprint>/}
 * @param bytes         the store's budget (slot table included); it never grows past it
 * @param policy        when blocks are written
 * @param queueBlocks   staging buffers between the engine's loop and the spill thread
 * @param prewarmBlocks at start, restore up to this many of the most recently used blocks (with their parents) into the pool
 * @param secret        seals the store's blocks (AES-GCM) when given; null: checksums bound to keys only
 */
public record HostStoreOptions(Path directory, long bytes, SpillPolicy policy, int queueBlocks, int prewarmBlocks, KvSecret secret) {
    public HostStoreOptions {
        if (directory == null) throw new IllegalArgumentException("kvfn.kv.host-store.path must be set");
        if (bytes <= 0) throw new IllegalArgumentException("kvfn.kv.host-store.bytes must be > 0, got " + bytes);
        if (policy == null) policy = SpillPolicy.WRITE_THROUGH;
        if (queueBlocks < 1) throw new IllegalArgumentException("kvfn.kv.host-store.queue-blocks must be >= 1, got " + queueBlocks);
        if (prewarmBlocks < 0) throw new IllegalArgumentException("kvfn.kv.prewarm.blocks must be >= 0, got " + prewarmBlocks);
    }

    /** {@code {uid}} in a configured directory replaced by this process's user id: a default private to each user. */
    public static Path perUser(Path configured) {
        return HostStoreFiles.forUser(configured);
    }

    public static HostStoreOptions at(Path directory, long bytes) {
        return new HostStoreOptions(directory, bytes, SpillPolicy.WRITE_THROUGH, 64, 0, null);
    }

    public HostStoreOptions withPolicy(SpillPolicy p) { return new HostStoreOptions(directory, bytes, p, queueBlocks, prewarmBlocks, secret); }
    public HostStoreOptions withPrewarm(int blocks) { return new HostStoreOptions(directory, bytes, policy, queueBlocks, blocks, secret); }
    public HostStoreOptions withSecret(KvSecret s) { return new HostStoreOptions(directory, bytes, policy, queueBlocks, prewarmBlocks, s); }
}
