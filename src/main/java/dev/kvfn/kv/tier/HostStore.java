package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.seal.BlockSeal;
import dev.kvfn.kv.seal.KvSecret;
import dev.kvfn.model.FileErrors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Full KV blocks in a memory-mapped file that outlives the process (under {@code /dev/shm} it
 * survives a restart of the container's process, on a volume a restart of the pod). The file is
 * its own index, so a new process maps it and finds every block from the slot table alone,
 * without reading block bytes, and reads only the entries below the high-water mark (attaching a
 * 1 GiB store of a tiny model was a pass over 254k entries, ~70 ms of start-up):
 *
 * <pre>
 *   [0, 4096)            header: magic "KVFNHST1", version, slots, block bytes, block tokens,
 *                        model fingerprint, KV layout text, sealed (0|1), CRC32C of the header;
 *                        at 4064 the high-water mark (int, then its complement; one 8-byte store, outside
 *                        the CRC): no slot at or past it was written since the file was created
 *   [4096, dataStart)    slot table: 128 bytes per slot
 *                          0 state (0 empty, 1 writing, 2 valid)  4 tokens  8 layout tag
 *                         12 CRC32C of the key then the block bytes  16 last use  24 has parent  28 CRC32C of the entry
 *                         32 key (32 bytes)  64 parent key (32 bytes)  96 nonce (12 bytes, sealed stores)
 *   [dataStart, end)     slot data: one pool block per slot, byte for byte; sealed: its AES-GCM ciphertext and tag
 * </pre>
 *
 * <p>Who can write the file: only this user (the directory and file are checked — no symbolic links,
 * owned by this user, writable by nobody else — before anything is opened, written or cut; see
 * {@link HostStoreFiles}). The block's checksum covers its key, so bytes moved to another slot are
 * caught. With {@code kvfn.kv.secret} set the store is sealed: every block is AES-GCM under a key of
 * its own use ({@link BlockSeal}, bound to key, fingerprint and layout), so bytes the process did not
 * write, or wrote for another key, are never served.
 *
 * The data region is a sparse hole until written: creating a store costs nothing at start-up. A
 * slot's first write is a positional write, so a file system that fills up fails that one write
 * (the slot is retired, the block just not cached) instead of raising SIGBUS under the mapping;
 * once a slot's pages exist, rewrites copy through the mapping. The header and slot table are
 * allocated when the file is created; restores read only slots whose bytes were written. A store
 * holds an exclusive lock on its file, so processes sharing a directory use a file each.
 *
 * <p>Crash consistency: a slot is marked writing, its bytes written, their CRC32C and the entry
 * written, and only then is it marked valid; a process killed at any point leaves either a valid
 * slot whose bytes match their checksum or a slot that the next {@link #open} clears. Every
 * restore re-checks the bytes it copied against the checksum, so a torn or flipped block is
 * dropped and recomputed, never served. A header that does not match this model and layout, or a
 * slot table cut short, makes {@code open} start the file afresh (the reason is in
 * {@link #openOutcome()}). Files are created 0600 in a 0700 directory: KV bytes are user data.
 * Thread-safe (one lock; copies are memcpy-fast).
 */
public final class HostStore implements AutoCloseable {
    static final long MAGIC = 0x3154534e4846564bL; // "KVFNHST1" little-endian
    static final int VERSION = 4; // 4: the high-water mark (3: checksums cover the key, sealed stores; 2: layout tags)
    static final int HEADER_BYTES = 4096;
    static final int MARK_OFFSET = HEADER_BYTES - 32; // 8-byte aligned: the mark and its complement change in one store
    static final int ENTRY_BYTES = 128;
    static final int EMPTY = 0, WRITING = 1, VALID = 2;
    public static final String FILE_NAME = "blocks.kvfn";
    // An L2-resident piece: the checksum reads it back from cache. 256 KiB copies ran 10-15% faster than 64 KiB
    // (cold source and destination, one thread, this project's 2-core EPYC VM); fewer calls, longer streams.
    private static final int RESTORE_CHUNK = 256 * 1024;

    private static final System.Logger LOG = System.getLogger(HostStore.class.getName());
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private final Path file;
    private final BlockFormat format;
    private final int layoutTag; // in every slot entry: an entry of another layout is never read as this one
    private final int slots;
    private final long blockBytes, slotBytes, dataStart, fileBytes;
    private final BlockSeal seal; // null: checksummed only
    private final java.nio.ByteBuffer sealScratch; // first writes of sealed blocks, under the lock
    private final Arena arena;
    private final MemorySegment map;
    private final FileChannel channel; // block bytes are written through it, never through the mapping
    private final Disk disk;
    /** key -> slot, in least-recently-used-first order. */
    private final LinkedHashMap<BlockKey, Integer> index = new LinkedHashMap<>(16, 0.75f, true);
    /** Slots below {@link #fresh} that hold nothing: reused before fresh ones. */
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    /** The high-water mark: slots from here on were never written, so an open does not read their entries. */
    private int fresh;
    /** Slots whose pages exist (written by this process, or valid when opened): later writes may go through the mapping. */
    private final boolean[] allocated;
    /** Bumped whenever a slot is (re)written, so a restore copying it concurrently can tell. */
    private final long[] generations;
    private final String openOutcome;
    private volatile boolean closing;
    private Thread prefault;
    @SuppressWarnings("unused") private volatile long prefaultSink; // keeps the touching reads from being optimized away
    private long clock;
    private long hits, misses, writes, evictions, faults, restoredBytes, writeErrors;

    private HostStore(Path file, BlockFormat format, BlockSeal seal, int slots, long dataStart, Arena arena, MemorySegment map,
                      FileChannel channel, Disk disk, String outcome) {
        this.seal = seal;
        this.slotBytes = slotBytes(format, seal != null);
        this.sealScratch = seal == null ? null : java.nio.ByteBuffer.allocateDirect((int) slotBytes);
        this.file = file;
        this.channel = channel;
        this.disk = disk;
        this.format = format;
        this.layoutTag = format.layoutId().hashCode();
        this.slots = slots;
        this.blockBytes = format.blockBytes();
        this.dataStart = dataStart;
        this.fileBytes = dataStart + slots * slotBytes;
        this.arena = arena;
        this.map = map;
        this.openOutcome = outcome;
        this.generations = new long[slots];
        this.allocated = new boolean[slots];
    }

    /**
     * Opens (or creates) the store in {@code dir} for this model and layout, holding as many blocks
     * as fit in {@code capacityBytes} (fewer when the file system cannot hold them). An existing file
     * for this model and layout is attached at the size its header records when the budget allows it;
     * one for another model or layout, a larger budget, or a damaged one, is replaced.
     */
    public static HostStore open(Path dir, byte[] fingerprint, BlockFormat format, long capacityBytes) {
        return open(dir, fingerprint, format, capacityBytes, null, Disk.REAL);
    }

    /**
     * The store of one model under a base directory: {@code base/<namespace>/}, both checked to be private
     * directories of this user; sealed with {@code secret} when it is given.
     *
     * @throws HostStoreFiles.Unsafe when a directory or file is not this user's own (a link, foreign, writable by others)
     */
    public static HostStore open(Path base, String namespace, byte[] fingerprint, BlockFormat format, long capacityBytes, KvSecret secret) {
        try {
            HostStoreFiles.createPrivateDirectories(base);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the host KV store in " + base + ": " + FileErrors.describe(e), e);
        }
        return open(base.resolve(namespace), fingerprint, format, capacityBytes, secret, Disk.REAL);
    }

    /** Bytes one slot holds: the block, and its tag when sealed. */
    static long slotBytes(BlockFormat format, boolean sealed) {
        return format.blockBytes() + (sealed ? BlockSeal.TAG_BYTES : 0);
    }

    /** The two file-system facts the store depends on; tests stand in a small or full file system. */
    interface Disk {
        Disk REAL = new Disk() {};

        /** Free bytes in {@code dir}'s file system. */
        default long usableSpace(Path dir) throws IOException {
            return Files.getFileStore(dir).getUsableSpace();
        }

        /** One positional write (may write fewer bytes than remain, like {@link FileChannel#write(ByteBuffer, long)}). */
        default int write(FileChannel ch, ByteBuffer src, long position) throws IOException {
            return ch.write(src, position);
        }
    }

    static HostStore open(Path dir, byte[] fingerprint, BlockFormat format, long capacityBytes, Disk disk) {
        return open(dir, fingerprint, format, capacityBytes, null, disk);
    }

    static HostStore open(Path dir, byte[] fingerprint, BlockFormat format, long capacityBytes, KvSecret secret, Disk disk) {
        boolean sealed = secret != null;
        long blockBytes = slotBytes(format, sealed);
        long slotsLong = capacityBytes / (blockBytes + ENTRY_BYTES);
        if (slotsLong < 1) {
            throw new IllegalArgumentException("kvfn.kv.host-store.bytes " + capacityBytes + " holds no block of " + blockBytes + " bytes");
        }
        FileChannel ch = null;
        Arena arena = null;
        Path file = null;
        try {
            HostStoreFiles.createPrivateDirectories(dir);
            // One process per file: two replicas writing one slot table would keep dropping each other's blocks (the
            // checksums catch it, the hits are lost). A file locked by a live process is left alone and the next name
            // taken; a dead process's lock is gone with it, so a restarted replica gets its predecessor's file back.
            for (int n = 0; n < HostStoreFiles.MAX_FILES && ch == null; n++) {
                file = dir.resolve(HostStoreFiles.fileName(n));
                ch = HostStoreFiles.openLocked(file, true);
            }
            if (ch == null) throw new IOException("all " + HostStoreFiles.MAX_FILES + " host store files are in use by other processes");
            if (file.getFileName().toString().equals(FILE_NAME)) HostStoreFiles.deleteUnheldExtras(dir);
            long have = ch.size();
            int budgetSlots = (int) Math.min(slotsLong, Integer.MAX_VALUE / 2);
            int slots = budgetSlots;
            String outcome = "created";
            String shrunk = null;
            long invalidFrom = Long.MAX_VALUE; // data past this offset was cut off
            // An existing file for this model and layout is attached at the size its header records, whenever the budget
            // allows that many slots: its size was decided once, when it was created (to the budget, or to a file system
            // too small for it), so a free-space measurement that moves between starts cannot replace it.
            HostStoreFiles.Recorded recorded = have > 0 ? HostStoreFiles.read(ch, fingerprint, format, sealed) : null;
            String problem = recorded == null ? null : recorded.problem();
            if (problem == null && recorded != null && recorded.slots() > budgetSlots) {
                problem = "written for a larger budget (" + recorded.slots() + " blocks, kvfn.kv.host-store.bytes holds " + budgetSlots + ")";
            }
            if (problem == null && recorded != null && have < HostStoreFiles.dataStart(recorded.slots())) {
                problem = "file too short for its slot table (" + have + " bytes)";
            }
            if (recorded != null && problem == null) {
                slots = recorded.slots();
                outcome = slots == budgetSlots ? "attached" : "attached at " + slots + " blocks (sized to its file system when created)";
            } else {
                if (recorded != null) {
                    ch.truncate(0); // in place: the lock stays with this file
                    have = 0;
                    outcome = "replaced: " + problem;
                }
                // A budget the file system cannot hold (a small /dev/shm, e.g. Docker's 64 MiB default) shrinks to half of
                // what is free rather than failing the replica: the store is a cache. The header records the size, so the
                // next start attaches this file as it is. The outcome says so.
                long size = HostStoreFiles.dataStart(slots) + slots * blockBytes;
                long free = disk.usableSpace(dir);
                if (size > free) {
                    long allowed = free / 2;
                    long fit = allowed / (blockBytes + ENTRY_BYTES);
                    if (fit < 1) {
                        throw new IOException("no room for a host KV store in " + dir + ": " + free + " bytes free, one block needs "
                                + (blockBytes + ENTRY_BYTES));
                    }
                    shrunk = "shrunk from " + size + " to about " + allowed + " bytes: only " + free + " free in " + dir;
                    slots = (int) Math.min(fit, Integer.MAX_VALUE / 2);
                }
            }
            long dataStart = HostStoreFiles.dataStart(slots);
            long size = dataStart + slots * blockBytes;
            if (have > 0 && have < size) {
                invalidFrom = have;
                outcome += ", repaired: file was cut at " + have + " of " + size + " bytes";
            }
            byte[] header = HostStoreFiles.header(fingerprint, format, slots, sealed);
            // The header and slot table are written as zeros now: they are written through the mapping, and a page a
            // full tmpfs cannot supply under a mapping is a SIGBUS. The data region stays a sparse hole (extended by one
            // byte written at its end): block bytes arrive by positional write first, where a full file system is an
            // IOException for that block, and only slots written are ever read. So creating a store takes no time.
            ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
            for (long at = have; at < dataStart; ) {
                zeros.clear().limit((int) Math.min(zeros.capacity(), dataStart - at));
                at += ch.write(zeros, at);
            }
            if (ch.size() < size) ch.write(ByteBuffer.allocate(1), size - 1);
            arena = Arena.ofShared();
            MemorySegment map = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            BlockSeal seal = sealed ? new BlockSeal(secret, "host", fingerprint, format) : null;
            var store = new HostStore(file, format, seal, slots, dataStart, arena, map, ch, disk, shrunk == null ? outcome : outcome + ", " + shrunk);
            store.load(header, invalidFrom, have == 0);
            store.startPrefault();
            return store;
        } catch (IOException | RuntimeException e) {
            if (arena != null && arena.scope().isAlive()) arena.close();
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // already failing
                }
                HostStoreFiles.HELD.remove(file.toAbsolutePath().normalize());
            }
            if (e instanceof IOException io) {
                throw new UncheckedIOException("cannot open the host KV store in " + dir + ": " + FileErrors.describe(io), io);
            }
            throw (RuntimeException) e;
        }
    }

    /**
     * Writes the header, then reads the slot table below the high-water mark ({@code created}: none; a mark that does
     * not check: all of it): valid entries go to the index, torn ones are cleared, and the mark comes down to just past
     * the last valid slot.
     */
    private void load(byte[] header, long invalidFrom, boolean created) {
        long mark = map.get(I64, MARK_OFFSET);
        int recorded = (int) mark;
        int limit = created ? 0 : (int) (mark >>> 32) == ~recorded && recorded >= 0 && recorded <= slots ? recorded : slots;
        MemorySegment.copy(header, 0, map, ValueLayout.JAVA_BYTE, 0, HEADER_BYTES);
        record Found(BlockKey key, int slot, long lastUse) {}
        List<Found> found = new ArrayList<>();
        int top = 0;
        for (int s = 0; s < limit; s++) {
            long e = entry(s);
            int state = map.get(I32, e);
            boolean ok = state == VALID && entryCrc(e) == map.get(I32, e + 28)
                    && map.get(I32, e + 8) == layoutTag && dataOffset(s) + slotBytes <= invalidFrom;
            if (ok) {
                found.add(new Found(BlockKey.of(bytes(e + 32)), s, map.get(I64, e + 16)));
                allocated[s] = true;
                top = s + 1;
            } else if (state != EMPTY) {
                map.set(I32, e, EMPTY);
                faults++;
            }
        }
        found.sort(Comparator.comparingLong(Found::lastUse));
        boolean[] held = new boolean[top];
        for (Found f : found) {
            if (index.putIfAbsent(f.key(), f.slot()) == null) held[f.slot()] = true;
            else map.set(I32, entry(f.slot()), EMPTY); // a second copy of a key: free (its pages exist, allocated stays)
            clock = Math.max(clock, f.lastUse());
        }
        for (int s = 0; s < top; s++) if (!held[s]) free.add(s);
        fresh = top;
        setMark(fresh); // every slot from top on is empty now
    }

    /** Records the high-water mark, in one store so that no crash leaves half of it. */
    private void setMark(int mark) {
        map.set(I64, MARK_OFFSET, (long) ~mark << 32 | (mark & 0xFFFFFFFFL));
    }

    /**
     * Maps the stored blocks' pages into this process in the background, most recently used first, so
     * the first restores after a restart copy at memory speed instead of taking a page fault per 64 KiB;
     * opening does not wait for it (the whole file was 115 ms for 1.5 GiB here). Only slots whose bytes
     * were written are touched: a read of a never-written page of a tmpfs file would allocate it.
     */
    private void startPrefault() {
        int[] order;
        synchronized (this) {
            order = index.values().stream().mapToInt(Integer::intValue).toArray();
        }
        if (order.length == 0) return;
        prefault = Thread.ofPlatform().daemon().name("kvfn-host-prefault").start(() -> {
            long sum = 0;
            try {
                for (int i = order.length - 1; i >= 0 && !closing; i--) {
                    long from = dataOffset(order[i]);
                    requireIntact(from + slotBytes);
                    for (long at = 0; at < slotBytes; at += 4096) sum += map.get(ValueLayout.JAVA_BYTE, from + at);
                }
            } catch (Damaged | InternalError e) {
                // the file was cut meanwhile: a warm-up only; the restore path finds out and turns the tier off
            }
            prefaultSink = sum;
        });
    }

    private long entry(int slot) {
        return HEADER_BYTES + (long) slot * ENTRY_BYTES;
    }

    private long dataOffset(int slot) {
        return dataStart + slot * slotBytes;
    }

    private byte[] bytes(long offset) {
        byte[] b = new byte[32];
        MemorySegment.copy(map, ValueLayout.JAVA_BYTE, offset, b, 0, 32);
        return b;
    }

    /** CRC32C of an entry's fields except its state, last use and this checksum (bytes 4..16 and 24..28, 32..108). */
    private int entryCrc(long e) {
        var crc = new CRC32C();
        crc.update(map.asSlice(e + 4, 12).asByteBuffer());
        crc.update(map.asSlice(e + 24, 4).asByteBuffer());
        crc.update(map.asSlice(e + 32, 64 + BlockSeal.NONCE_BYTES).asByteBuffer());
        return (int) crc.getValue();
    }

    public synchronized boolean contains(BlockKey key) {
        return index.containsKey(key);
    }

    /** The parent of a stored block (null for a chain's first block or an unknown key). */
    public synchronized BlockKey parent(BlockKey key) {
        Integer s = index.get(key);
        if (s == null) return null;
        requireIntact(dataStart);
        long e = entry(s);
        return map.get(I32, e + 24) == 0 ? null : BlockKey.of(bytes(e + 64));
    }

    /**
     * Stores a block's bytes ({@code blockBytes} from {@code src} at {@code offset}) under its key,
     * evicting the least recently used block when full. Returns false if the key is already stored
     * (idempotent).
     */
    public synchronized boolean put(BlockKey key, BlockKey parent, MemorySegment src, long offset) {
        if (index.containsKey(key)) return false;
        requireIntact(fileBytes); // entries and rewritten slots go through the mapping
        int s;
        if (!free.isEmpty()) {
            s = free.poll();
        } else if (fresh < slots) {
            s = fresh++;
            setMark(fresh); // before the slot is touched: an open reads no entry past the mark
        } else if (!index.isEmpty()) {
            var eldest = index.entrySet().iterator().next();
            s = eldest.getValue();
            index.remove(eldest.getKey());
            evictions++;
        } else {
            return false; // every slot retired by write errors
        }
        long e = entry(s);
        generations[s]++;
        map.set(I32, e, WRITING);
        var crc = new CRC32C();
        crc.update(key.toBytes()); // bound to its key: bytes moved to another slot do not check
        byte[] nonce = new byte[BlockSeal.NONCE_BYTES];
        if (seal != null) seal.newNonce(nonce);
        if (allocated[s]) {
            // written before, so its pages exist: a copy through the mapping (2.5x faster than pwrite on tmpfs here)
            MemorySegment data = map.asSlice(dataOffset(s), slotBytes);
            if (seal != null) seal.seal(key, nonce, src.asSlice(offset, blockBytes).asByteBuffer(), data.asByteBuffer());
            else MemorySegment.copy(src, offset, data, 0, blockBytes);
            crc.update(data.asByteBuffer());
        } else {
            ByteBuffer bytes = src.asSlice(offset, blockBytes).asByteBuffer();
            if (seal != null) {
                seal.seal(key, nonce, bytes, sealScratch.clear());
                bytes = sealScratch.flip();
            }
            crc.update(bytes.duplicate());
            try {
                for (long at = dataOffset(s); bytes.hasRemaining(); ) at += disk.write(channel, bytes, at);
            } catch (IOException ex) {
                // e.g. ENOSPC: the file system could not give this slot its pages. Retire the slot (not back to the
                // free list) so the store shrinks to what it can hold; the block is simply not cached here.
                map.set(I32, e, EMPTY);
                if (writeErrors++ == 0) {
                    LOG.log(System.Logger.Level.WARNING, "host KV store write failed (" + ex.getMessage() + "): that block is"
                            + " not cached and its slot is retired; further failures are counted in kvfn_kv_faults_total{tier=\"host\"}");
                }
                return false;
            }
            allocated[s] = true;
        }
        map.set(I32, e + 4, format.blockTokens());
        map.set(I32, e + 8, layoutTag);
        map.set(I32, e + 12, (int) crc.getValue());
        map.set(I64, e + 16, ++clock);
        map.set(I32, e + 24, parent == null ? 0 : 1);
        MemorySegment.copy(key.toBytes(), 0, map, ValueLayout.JAVA_BYTE, e + 32, 32);
        MemorySegment.copy(parent == null ? new byte[32] : parent.toBytes(), 0, map, ValueLayout.JAVA_BYTE, e + 64, 32);
        MemorySegment.copy(nonce, 0, map, ValueLayout.JAVA_BYTE, e + 96, nonce.length);
        map.set(I32, e + 28, entryCrc(e));
        map.set(I32, e, VALID); // published last: a crash before this leaves a slot the next open clears
        index.put(key, s);
        writes++;
        return true;
    }

    /**
     * Restoring a chain in three steps, so the copies can run on several threads with the lock
     * taken twice per chain instead of twice per block: {@link #plan} (locked) checks the entries of
     * {@code keys[0 .. n)} and notes their slots, generations and checksums; {@link #copyVerified}
     * (no lock, any thread) copies one block and checks its checksum; {@link #commit} (locked) keeps
     * the blocks whose slot was not rewritten meanwhile and drops those that failed.
     *
     * @return how many leading keys are stored with a sound entry (a bad entry is dropped and counted)
     */
    public synchronized int plan(BlockKey[] keys, int n, int[] slots, long[] generationsOut, int[] crcs) {
        requireIntact(dataStart); // the slot table is read through the mapping
        for (int i = 0; i < n; i++) {
            Integer found = index.get(keys[i]);
            if (found == null) {
                misses++;
                return i;
            }
            long e = entry(found);
            boolean entryOk = map.get(I32, e) == VALID && entryCrc(e) == map.get(I32, e + 28)
                    && Arrays.equals(bytes(e + 32), keys[i].toBytes()) && map.get(I32, e + 8) == layoutTag;
            if (!entryOk) {
                drop(keys[i], found);
                faults++;
                return i;
            }
            slots[i] = found;
            generationsOut[i] = generations[found];
            crcs[i] = map.get(I32, e + 12);
        }
        return n;
    }

    /**
     * Copies slot {@code slot}'s bytes (for {@code key}) to {@code dst} at {@code offset}; true when the copy matches
     * {@code crc} (sealed: opens under its tag). No lock: a slot rewritten meanwhile fails here or in {@link #commit}.
     */
    public boolean copyVerified(BlockKey key, int slot, int expectedCrc, MemorySegment dst, long offset) {
        long from = dataOffset(slot);
        requireIntact(from + slotBytes);
        if (seal != null) {
            byte[] nonce = new byte[BlockSeal.NONCE_BYTES];
            MemorySegment.copy(map, ValueLayout.JAVA_BYTE, entry(slot) + 96, nonce, 0, nonce.length);
            return seal.open(key, nonce, map.asSlice(from, slotBytes).asByteBuffer(), dst.asSlice(offset, blockBytes).asByteBuffer());
        }
        var crc = new CRC32C();
        crc.update(key.toBytes());
        java.nio.ByteBuffer copied = dst.asSlice(offset, blockBytes).asByteBuffer();
        for (int done = 0; done < blockBytes; done += RESTORE_CHUNK) {
            int n = (int) Math.min(RESTORE_CHUNK, blockBytes - done);
            MemorySegment.copy(map, from + done, dst, offset + done, n);
            crc.update(copied.limit(done + n).position(done));
        }
        return (int) crc.getValue() == expectedCrc;
    }

    /** Settles a {@link #plan}: returns how many leading blocks were copied intact from slots nobody rewrote meanwhile. */
    public synchronized int commit(BlockKey[] keys, int n, int[] slots, long[] generationsIn, boolean[] copiedOk) {
        int good = 0;
        boolean chain = true;
        for (int i = 0; i < n; i++) {
            int s = slots[i];
            if (generations[s] != generationsIn[i]) { // evicted and rewritten while copied: a miss, not a fault
                misses++;
                chain = false;
                continue;
            }
            if (!copiedOk[i]) {
                drop(keys[i], s);
                faults++;
                chain = false;
                continue;
            }
            index.get(keys[i]); // touch: most recently used
            map.set(I64, entry(s) + 16, ++clock);
            if (chain) {
                hits++;
                restoredBytes += blockBytes;
                good++;
            }
        }
        return good;
    }

    /**
     * Reading the mapping past the file's end is a SIGBUS (an {@link InternalError} in Java), so before
     * mapped access the file must still reach {@code end}: a file cut under the running process (by hand,
     * by another program) makes the store unusable until the next open repairs it.
     *
     * @throws Damaged when the file is shorter
     */
    private void requireIntact(long end) {
        long size;
        try {
            size = channel.size();
        } catch (IOException e) {
            throw new Damaged("host KV store " + file + " cannot be checked: " + e.getMessage(), e);
        }
        if (size < end) {
            throw new Damaged("host KV store " + file + " was cut to " + size + " bytes (of " + fileBytes + ") while in use", null);
        }
    }

    /** The store's file changed under it (cut short): it must not be read or written through the mapping any more. */
    public static final class Damaged extends RuntimeException {
        Damaged(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private void drop(BlockKey key, int slot) {
        generations[slot]++;
        index.remove(key);
        map.set(I32, entry(slot), EMPTY);
        free.add(slot);
    }

    /** Writes dirty pages to the file (matters on a volume; /dev/shm is memory either way). */
    public void flush() {
        try {
            channel.force(false);
            map.force();
        } catch (IOException | UncheckedIOException | InternalError ignored) {
            // a cache: the next open verifies every slot it keeps
        }
    }



    public synchronized HostStoreStats stats() {
        return new HostStoreStats(slots, index.size(), blockBytes, hits, misses, writes, evictions, faults, restoredBytes, writeErrors);
    }

    public record HostStoreStats(int slots, int blocks, long blockBytes, long hits, long misses, long writes, long evictions,
                                 long faults, long restoredBytes, long writeErrors) {}

    /** What {@link #open} found: {@code created}, {@code attached}, {@code attached, repaired: ...} or {@code replaced: reason}. */
    public String openOutcome() {
        return openOutcome;
    }

    public Path file() {
        return file;
    }

    public BlockFormat format() {
        return format;
    }

    public int capacity() {
        return slots;
    }

    public synchronized int size() {
        return index.size();
    }

    /** Keys from least to most recently used (for prewarm, which wants the most recent chains). */
    public synchronized List<BlockKey> keysByRecency() {
        return new ArrayList<>(index.keySet());
    }

    @Override
    public synchronized void close() {
        if (!arena.scope().isAlive()) return;
        closing = true;
        if (prefault != null) {
            try {
                prefault.join(); // it stops at the next block; the mapping must outlive its reads
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        flush();
        arena.close();
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing left to write
        }
        HostStoreFiles.HELD.remove(file.toAbsolutePath().normalize());
    }
}
