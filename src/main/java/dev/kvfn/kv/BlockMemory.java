package dev.kvfn.kv;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The bytes of a {@link BlockPool}'s blocks in host memory: one off-heap segment cut into
 * {@link KvLayout#blockBytes()}-sized blocks, block {@code b} at {@link #offset(int) b * blockBytes}.
 * Reserved, not touched: pages arrive as blocks are first written. On Linux the bytes are an anonymous private
 * mapping (the kernel supplies zero pages on first write); {@code Arena.allocate} would zero every byte up front, which
 * for a pool of gigabytes costs start-up seconds and makes the whole pool resident at once. Elsewhere, or when the
 * {@code mmap} downcall is unavailable, it falls back to {@code Arena.allocate}: the same zeroed contents.
 */
public final class BlockMemory implements AutoCloseable {
    private final KvLayout layout;
    private final long blockBytes;
    private final int blocks;
    private final Arena arena = Arena.ofShared(); // shared: compute workers and the spill thread read it
    private final MemorySegment memory;

    public BlockMemory(KvLayout layout, int blocks) {
        if (blocks < 1) throw new IllegalArgumentException("KV memory needs at least one block, got " + blocks);
        this.layout = layout;
        this.blockBytes = layout.blockBytes();
        this.blocks = blocks;
        this.memory = reserve(Math.multiplyExact(blockBytes, (long) blocks), arena);
    }

    /** {@code bytes} of zeroed memory owned by {@code arena}, mapped lazily where the platform allows it. */
    static MemorySegment reserve(long bytes, Arena arena) {
        if (AnonymousMapping.MMAP != null) {
            try {
                MemorySegment at = (MemorySegment) AnonymousMapping.MMAP.invokeExact(MemorySegment.NULL, bytes,
                        AnonymousMapping.PROT_READ_WRITE, AnonymousMapping.MAP_PRIVATE_ANONYMOUS, -1, 0L);
                if (at.address() != -1L) {
                    return at.reinterpret(bytes, arena, m -> AnonymousMapping.unmap(m, bytes));
                }
            } catch (Throwable e) {
                // fall through: the zeroing allocation below is slower at start, never wrong
            }
        }
        return arena.allocate(bytes, 64);
    }

    /** libc's {@code mmap}/{@code munmap} (Linux), or null handles where they cannot be linked. */
    private static final class AnonymousMapping {
        static final int PROT_READ_WRITE = 0x1 | 0x2;
        static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20; // Linux values
        static final MethodHandle MMAP;
        static final MethodHandle MUNMAP;

        static {
            MethodHandle mmap = null, munmap = null;
            if (System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
                try {
                    Linker linker = Linker.nativeLinker();
                    var libc = linker.defaultLookup();
                    mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(),
                            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
                    munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
                } catch (RuntimeException | LinkageError e) { // no native access, no symbol, no FFM (a native image without the registration)
                    mmap = null;
                    munmap = null;
                }
            }
            MMAP = mmap;
            MUNMAP = munmap;
        }

        static void unmap(MemorySegment m, long bytes) {
            try {
                int rc = (int) MUNMAP.invokeExact(m, bytes);
                if (rc != 0) System.getLogger(BlockMemory.class.getName()).log(System.Logger.Level.WARNING, "munmap of the KV pool failed");
            } catch (Throwable e) {
                throw new IllegalStateException("munmap of the KV pool failed", e);
            }
        }
    }

    /** As many blocks as fit in {@code bytes}; refuses a budget below one block with the reason. */
    public static int blocksIn(KvLayout layout, long bytes) {
        long blocks = bytes / layout.blockBytes();
        if (blocks < 1) {
            throw new IllegalArgumentException("kvfn.kv.pool-bytes " + bytes + " is smaller than one KV block ("
                    + layout.blockBytes() + " bytes for " + layout.blockTokens() + " tokens)");
        }
        if (blocks > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("kvfn.kv.pool-bytes " + bytes + " makes too many blocks");
        return (int) blocks;
    }

    public KvLayout layout() { return layout; }
    public MemorySegment segment() { return memory; }
    public long blockBytes() { return blockBytes; }
    public int blocks() { return blocks; }

    /** Byte offset of {@code block} in {@link #segment()}. */
    public long offset(int block) {
        return block * blockBytes;
    }

    /** Block {@code block}'s bytes (a view, valid until close). */
    public MemorySegment block(int block) {
        return memory.asSlice(offset(block), blockBytes);
    }

    @Override
    public void close() {
        arena.close();
    }
}
