package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.KvElementType;
import dev.kvfn.kv.KvLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostStoreTest {
    static final KvLayout LAYOUT = new KvLayout(2, 2, 8, 4, KvElementType.F16); // 512-byte blocks
    static final byte[] FP = new byte[32];
    static final byte[] OTHER_FP = new byte[32];

    static {
        FP[0] = 1;
        OTHER_FP[0] = 2;
    }

    @TempDir
    Path dir;

    static BlockKey key(int n) {
        byte[] b = new byte[32];
        b[0] = (byte) n;
        b[5] = (byte) (n >> 8);
        b[31] = 9;
        return BlockKey.of(b);
    }

    /** A block whose bytes say which key it belongs to. */
    static MemorySegment block(Arena arena, int n) {
        MemorySegment s = arena.allocate(LAYOUT.blockBytes());
        for (long i = 0; i < s.byteSize(); i++) s.set(ValueLayout.JAVA_BYTE, i, (byte) (n * 31 + i));
        return s;
    }

    static HostStore open(Path dir, int blocks) {
        return HostStore.open(dir, FP, LAYOUT.format(), blocks * (LAYOUT.blockBytes() + HostStore.ENTRY_BYTES));
    }

    interface Free {
        long in(Path dir) throws java.io.IOException;
    }

    /** A file system reporting {@code free} bytes free. */
    static HostStore.Disk withFree(Free free) {
        return new HostStore.Disk() {
            @Override
            public long usableSpace(Path d) throws java.io.IOException {
                return free.in(d);
            }
        };
    }

    @Test
    void twoStoresOpenOnOneDirectoryGetTwoFilesAndTheFirstIsAttachedAgainWhenFree() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore first = open(dir, 8); HostStore second = open(dir, 8)) {
                assertEquals(dir.resolve(HostStore.FILE_NAME), first.file());
                assertEquals(dir.resolve("blocks.1.kvfn"), second.file(), "the locked file is left to its owner");
                assertTrue(first.put(key(1), null, block(arena, 1), 0));
                assertTrue(second.put(key(2), null, block(arena, 2), 0));
                assertFalse(first.contains(key(2)));
            }
            try (HostStore again = open(dir, 8)) {
                assertEquals(dir.resolve(HostStore.FILE_NAME), again.file());
                assertEquals("attached", again.openOutcome());
                assertTrue(again.contains(key(1)));
                assertFalse(Files.exists(dir.resolve("blocks.1.kvfn")), "the extra file of a store no one holds is removed");
            }
            HostStore first = open(dir, 8);
            try (HostStore second = open(dir, 8)) {
                assertEquals(dir.resolve("blocks.1.kvfn"), second.file());
                first.close();
                try (HostStore third = open(dir, 8)) { // takes blocks.kvfn again, and finds blocks.1.kvfn held
                    assertEquals(dir.resolve(HostStore.FILE_NAME), third.file());
                    assertTrue(Files.exists(dir.resolve("blocks.1.kvfn")), "a held extra file is left alone");
                    assertTrue(second.put(key(3), null, block(arena, 3), 0));
                    try (HostStore fourth = open(dir, 8)) {
                        assertEquals(dir.resolve("blocks.2.kvfn"), fourth.file(), "blocks.1.kvfn is still held");
                    }
                }
            }
        }
    }

    @Test
    void creatingAStoreAllocatesOnlyItsSlotTableAndWritingBlocksFillsIt() throws Exception {
        // 512 MiB of budget in 512-byte blocks: the data region stays a hole until blocks are written
        long budget = 512L << 20;
        long before = Files.getFileStore(dir).getUsableSpace();
        try (Arena arena = Arena.ofConfined(); HostStore s = HostStore.open(dir, FP, LAYOUT.format(), budget)) {
            long slotTable = (long) s.capacity() * HostStore.ENTRY_BYTES;
            long used = before - Files.getFileStore(dir).getUsableSpace();
            assertTrue(Files.size(dir.resolve(HostStore.FILE_NAME)) > budget * 3 / 4, "the file has its full length");
            assertTrue(used < slotTable + (64L << 20), "creating took " + used + " bytes, the slot table is " + slotTable);
            for (int i = 0; i < 5; i++) assertTrue(s.put(key(i), null, block(arena, i), 0));
            MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
            assertTrue(HostStoreRestore.restore(s, key(4), dst, 0));
            assertEquals(-1, dst.mismatch(block(arena, 4)));
        }
    }

    @Test
    void aFullFileSystemFailsOneWriteRetiresItsSlotAndTheStoreGoesOn() throws Exception {
        // the 3rd and 4th block writes fail as on a full tmpfs; everything else works
        var writes = new java.util.concurrent.atomic.AtomicInteger();
        HostStore.Disk full = new HostStore.Disk() {
            @Override
            public int write(FileChannel ch, java.nio.ByteBuffer src, long position) throws java.io.IOException {
                int n = writes.incrementAndGet();
                if (n == 3 || n == 4) throw new java.io.IOException("No space left on device");
                return ch.write(src, position);
            }
        };
        try (Arena arena = Arena.ofConfined();
             HostStore s = HostStore.open(dir, FP, LAYOUT.format(), 4 * (LAYOUT.blockBytes() + HostStore.ENTRY_BYTES), full)) {
            assertTrue(s.put(key(0), null, block(arena, 0), 0));
            assertTrue(s.put(key(1), key(0), block(arena, 1), 0));
            assertFalse(s.put(key(2), key(1), block(arena, 2), 0), "not written: not stored");
            assertFalse(s.put(key(3), key(2), block(arena, 3), 0));
            assertEquals(2, s.stats().writeErrors());
            assertFalse(s.contains(key(2)));
            // two slots retired: the store now holds 2 blocks, evicting the oldest for the next ones
            assertTrue(s.put(key(4), null, block(arena, 4), 0));
            assertTrue(s.put(key(5), key(4), block(arena, 5), 0));
            assertEquals(2, s.size());
            assertFalse(s.contains(key(0)));
            MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
            assertTrue(HostStoreRestore.restore(s, key(5), dst, 0));
            assertEquals(-1, dst.mismatch(block(arena, 5)), "a write after failures lands whole");
        }
        // the failed slots were left empty, not torn: a new process sees exactly the blocks that were written
        try (HostStore s = open(dir, 4)) {
            assertEquals(2, s.size());
            assertEquals(0, s.stats().faults());
            assertTrue(s.contains(key(4)) && s.contains(key(5)));
        }
    }

    @Test
    void aBudgetTheFileSystemCannotHoldShrinksToHalfOfWhatIsFree() throws Exception {
        long slotBytes = LAYOUT.blockBytes() + HostStore.ENTRY_BYTES;
        long free = 64 * 1024; // a "file system" with 64 KiB free, asked for a store of 1000 blocks (640 KiB)
        try (Arena arena = Arena.ofConfined();
             HostStore s = HostStore.open(dir, FP, LAYOUT.format(), 1000 * slotBytes, withFree(d -> free))) {
            assertEquals(free / 2 / slotBytes, s.capacity(), "half the free space, in whole slots");
            assertTrue(s.openOutcome().startsWith("created, shrunk from "), s.openOutcome());
            assertTrue(Files.size(dir.resolve(HostStore.FILE_NAME)) < free, "the file fits what was free");
            // it works as a store of that size: fills up, evicts the oldest, restores what it holds
            int n = s.capacity() + 3;
            for (int i = 0; i < n; i++) assertTrue(s.put(key(i), i == 0 ? null : key(i - 1), block(arena, i), 0));
            assertEquals(s.capacity(), s.size());
            MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
            assertFalse(HostStoreRestore.restore(s, key(0), dst, 0), "evicted");
            assertTrue(HostStoreRestore.restore(s, key(n - 1), dst, 0));
            assertEquals(-1, dst.mismatch(block(arena, n - 1)));
        }
        // reopened with the same small file system: the shrunk file (counted as free) is attached, not replaced
        try (HostStore s = HostStore.open(dir, FP, LAYOUT.format(), 1000 * slotBytes, withFree(d -> free - Files.size(d.resolve(HostStore.FILE_NAME))))) {
            assertTrue(s.openOutcome().startsWith("attached"), s.openOutcome());
        }
        // no room for even one block: a clear error naming the directory
        var e = assertThrows(java.io.UncheckedIOException.class,
                () -> HostStore.open(dir.resolve("tiny"), FP, LAYOUT.format(), 1000 * slotBytes, withFree(d -> slotBytes)));
        assertTrue(e.getMessage().contains("no room for a host KV store in " + dir.resolve("tiny")), e.getMessage());
    }

    @Test
    void aStoreSizedToASmallFileSystemIsAttachedAsItIsAtEachRestart() throws Exception {
        // a tmpfs smaller than the budget whose free space reads differently at each start (what the sparse file
        // already holds, other files): the size decided at creation is recorded in the header and attached again
        long slotBytes = LAYOUT.blockBytes() + HostStore.ENTRY_BYTES;
        long budget = 1000 * slotBytes;
        long[] freeAtStart = {64 * 1024, 40 * 1024, 100 * 1024, 20 * 1024};
        int capacity;
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = HostStore.open(dir, FP, LAYOUT.format(), budget, withFree(d -> freeAtStart[0]))) {
                assertTrue(s.openOutcome().startsWith("created, shrunk from "), s.openOutcome());
                capacity = s.capacity();
                assertEquals(freeAtStart[0] / 2 / slotBytes, capacity);
                assertTrue(s.put(key(0), null, block(arena, 0), 0));
            }
            for (int restart = 1; restart <= 3; restart++) {
                long free = freeAtStart[restart];
                try (HostStore s = HostStore.open(dir, FP, LAYOUT.format(), budget, withFree(d -> free))) {
                    assertTrue(s.openOutcome().startsWith("attached at " + capacity + " blocks"), "restart " + restart + ": " + s.openOutcome());
                    assertEquals(capacity, s.capacity());
                    assertEquals(restart, s.size(), "every block written before survived restart " + restart);
                    MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
                    for (int i = 0; i < restart; i++) {
                        assertTrue(HostStoreRestore.restore(s, key(i), dst, 0), "block " + i + " at restart " + restart);
                        assertEquals(-1, dst.mismatch(block(arena, i)));
                    }
                    assertTrue(s.put(key(restart), key(restart - 1), block(arena, restart), 0));
                }
            }
        }
        // a budget that no longer allows the recorded size starts afresh (the store never grows past its budget)
        try (HostStore s = HostStore.open(dir, FP, LAYOUT.format(), (capacity - 1) * slotBytes, withFree(d -> 1L << 30))) {
            assertTrue(s.openOutcome().startsWith("replaced: written for a larger budget"), s.openOutcome());
            assertEquals(capacity - 1, s.capacity());
        }
    }

    @Test
    void blocksSurviveReopeningAndComeBackByteForByte() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = open(dir, 8)) {
                assertEquals("created", s.openOutcome());
                for (int i = 0; i < 5; i++) assertTrue(s.put(key(i), i == 0 ? null : key(i - 1), block(arena, i), 0));
                assertFalse(s.put(key(3), key(2), block(arena, 3), 0), "idempotent");
            }
            try (HostStore s = open(dir, 8)) {
                assertEquals("attached", s.openOutcome());
                assertEquals(5, s.size());
                MemorySegment dst = arena.allocate(LAYOUT.blockBytes() * 2);
                for (int i = 0; i < 5; i++) {
                    assertTrue(HostStoreRestore.restore(s, key(i), dst, LAYOUT.blockBytes()));
                    assertEquals(-1, dst.asSlice(LAYOUT.blockBytes()).mismatch(block(arena, i)), "block " + i);
                }
                assertEquals(key(3), s.parent(key(4)));
                assertNull(s.parent(key(0)));
                assertFalse(HostStoreRestore.restore(s, key(77), dst, 0));
                assertEquals(5, s.stats().hits());
            }
            var perms = PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(HostStore.FILE_NAME)));
            assertEquals("rw-------", perms, "KV bytes are user data");
        }
    }

    @Test
    void itNeverGrowsPastItsBudgetAndEvictsTheLeastRecentlyUsed() {
        try (Arena arena = Arena.ofConfined(); HostStore s = open(dir, 3)) {
            assertEquals(3, s.capacity());
            long size = s.file().toFile().length();
            s.put(key(0), null, block(arena, 0), 0);
            s.put(key(1), null, block(arena, 1), 0);
            s.put(key(2), null, block(arena, 2), 0);
            assertTrue(HostStoreRestore.restore(s, key(0), arena.allocate(LAYOUT.blockBytes()), 0)); // 0 is now the most recent
            s.put(key(3), null, block(arena, 3), 0);
            assertFalse(s.contains(key(1)), "the least recently used block went");
            assertTrue(s.contains(key(0)) && s.contains(key(2)) && s.contains(key(3)));
            assertEquals(1, s.stats().evictions());
            assertEquals(size, s.file().toFile().length());
        }
    }

    @Test
    void aFlippedByteIsCaughtDroppedAndCounted() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = open(dir, 4)) {
                s.put(key(1), null, block(arena, 1), 0);
                s.put(key(2), key(1), block(arena, 2), 0);
            }
            flipByteInData(dir.resolve(HostStore.FILE_NAME), 4, 1); // the second slot's data
            try (HostStore s = open(dir, 4)) {
                MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
                assertTrue(HostStoreRestore.restore(s, key(1), dst, 0));
                assertFalse(HostStoreRestore.restore(s, key(2), dst, 0), "checksum mismatch");
                assertFalse(s.contains(key(2)), "a bad block is dropped");
                assertEquals(1, s.stats().faults());
            }
        }
    }

    /** Flips one byte in the middle of slot {@code slot}'s data. */
    static void flipByteInData(Path file, int slots, int slot) throws Exception {
        long dataStart = (HostStore.HEADER_BYTES + (long) slots * HostStore.ENTRY_BYTES + 4095) / 4096 * 4096;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            long at = dataStart + slot * LAYOUT.blockBytes() + 100;
            f.seek(at);
            int b = f.read();
            f.seek(at);
            f.write(b ^ 0x40);
        }
    }

    @Test
    void aTruncatedFileIsRepairedKeepingTheBlocksBeforeTheCut() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = open(dir, 4)) {
                for (int i = 0; i < 4; i++) s.put(key(i), null, block(arena, i), 0);
            }
            Path file = dir.resolve(HostStore.FILE_NAME);
            long dataStart = (HostStore.HEADER_BYTES + 4L * HostStore.ENTRY_BYTES + 4095) / 4096 * 4096;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(dataStart + 2 * LAYOUT.blockBytes() + 10); // slots 0 and 1 whole, 2 cut, 3 gone
            }
            try (HostStore s = open(dir, 4)) {
                assertTrue(s.openOutcome().startsWith("attached, repaired"), s.openOutcome());
                assertEquals(2, s.size());
                MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
                assertTrue(HostStoreRestore.restore(s, key(0), dst, 0));
                assertTrue(HostStoreRestore.restore(s, key(1), dst, 0));
                assertFalse(s.contains(key(2)));
                assertTrue(s.put(key(9), null, block(arena, 9), 0), "repaired slots are reusable");
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(1000); // not even a header
            }
            try (HostStore s = open(dir, 4)) {
                assertTrue(s.openOutcome().startsWith("replaced"), s.openOutcome());
                assertEquals(0, s.size());
            }
        }
    }

    @Test
    void anotherModelOrLayoutStartsAfresh() {
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = open(dir, 4)) {
                s.put(key(1), null, block(arena, 1), 0);
            }
            try (HostStore s = HostStore.open(dir, OTHER_FP, LAYOUT.format(), 4 * (LAYOUT.blockBytes() + HostStore.ENTRY_BYTES))) {
                assertEquals("replaced: written for another model (fingerprint differs)", s.openOutcome());
                assertEquals(0, s.size());
            }
            var q8 = new KvLayout(2, 2, 8, 4, KvElementType.Q8);
            try (HostStore s = HostStore.open(dir, OTHER_FP, q8.format(), 4 * (q8.blockBytes() + HostStore.ENTRY_BYTES))) {
                assertTrue(s.openOutcome().startsWith("replaced: written with another KV layout"), s.openOutcome());
            }
        }
    }

    @Test
    void aSlotTornMidWriteIsClearedOnOpen() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = open(dir, 4)) {
                s.put(key(1), null, block(arena, 1), 0);
                s.put(key(2), null, block(arena, 2), 0);
            }
            // what a process killed between "writing" and "valid" leaves: state 1 in slot 1's entry
            try (RandomAccessFile f = new RandomAccessFile(dir.resolve(HostStore.FILE_NAME).toFile(), "rw")) {
                f.seek(HostStore.HEADER_BYTES + HostStore.ENTRY_BYTES);
                f.write(new byte[]{1, 0, 0, 0});
            }
            try (HostStore s = open(dir, 4)) {
                assertTrue(s.contains(key(1)));
                assertFalse(s.contains(key(2)));
                assertEquals(1, s.stats().faults());
            }
        }
    }

    @Test
    void anOpenReadsTheSlotTableOnlyBelowTheHighWaterMarkAndAllOfItWhenTheMarkDoesNotCheck() throws Exception {
        Path file = dir.resolve(HostStore.FILE_NAME);
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = open(dir, 8)) {
                for (int i = 0; i < 3; i++) s.put(key(i), null, block(arena, i), 0);
            }
            assertEquals(3, mark(file), "the mark rose with each new slot");
            writingEntry(file, 6); // junk past the mark: an open never looks at it
            try (HostStore s = open(dir, 8)) {
                assertEquals(3, s.size());
                assertEquals(0, s.stats().faults(), "slot 6 is past the mark: not read");
            }
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.seek(HostStore.MARK_OFFSET);
                f.write(new byte[] {3, 0, 0, 0, 0, 0, 0, 0}); // a mark whose complement does not check (a store of version 3 had zeros)
            }
            try (HostStore s = open(dir, 8)) {
                assertEquals("attached", s.openOutcome(), "the mark is outside the header's checksum");
                assertEquals(3, s.size());
                assertEquals(1, s.stats().faults(), "a mark that does not check: the whole table read, slot 6 cleared");
                assertEquals(3, mark(file), "and the mark written again, just past the last block");
                MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
                for (int i = 0; i < 3; i++) assertTrue(HostStoreRestore.restore(s, key(i), dst, 0));
            }
        }
    }

    @Test
    void aSlotDroppedBelowTheMarkIsReusedBeforeANewOneAndTheMarkComesDownOnOpen() throws Exception {
        Path file = dir.resolve(HostStore.FILE_NAME);
        try (Arena arena = Arena.ofConfined()) {
            try (HostStore s = open(dir, 8)) {
                for (int i = 0; i < 4; i++) s.put(key(i), null, block(arena, i), 0);
            }
            flipByteInData(file, 8, 3); // the last block goes bad: dropped at its restore
            try (HostStore s = open(dir, 8)) {
                assertFalse(HostStoreRestore.restore(s, key(3), arena.allocate(LAYOUT.blockBytes()), 0));
                assertTrue(s.put(key(7), null, block(arena, 7), 0));
                assertEquals(4, mark(file), "the dropped slot was reused: no new slot taken");
                MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
                assertTrue(HostStoreRestore.restore(s, key(7), dst, 0));
                assertEquals(-1, dst.mismatch(block(arena, 7)));
            }
            writingEntry(file, 3); // a process killed while rewriting the last slot
            try (HostStore s = open(dir, 8)) {
                assertEquals(3, s.size());
                assertEquals(3, mark(file), "cleared, so the mark comes down to just past the last block");
            }
        }
    }

    /** The high-water mark in a store's header, or -1 if it does not check. */
    static int mark(Path file) throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            var b = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(b, HostStore.MARK_OFFSET);
            int mark = b.getInt(0);
            return b.getInt(4) == ~mark ? mark : -1;
        }
    }

    /** Sets slot {@code slot}'s entry to "writing": what a process killed mid-write leaves. */
    static void writingEntry(Path file, int slot) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(HostStore.HEADER_BYTES + (long) slot * HostStore.ENTRY_BYTES);
            f.write(new byte[] {1, 0, 0, 0});
        }
    }

    @Test
    void aDirectoryItCannotUseIsRefusedWithTheReason() throws Exception {
        // root ignores permission bits, so the EACCES case runs only as another user; ENOTDIR runs everywhere
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        var notDir = assertThrows(java.io.UncheckedIOException.class, () -> open(file.resolve("kvfn"), 4));
        assertTrue(notDir.getMessage().matches("cannot open the host KV store in .*a-file/kvfn: .*: Not a directory"), notDir.getMessage());
        if ("root".equals(System.getProperty("user.name"))) return;
        Path locked = Files.createDirectory(dir.resolve("locked"));
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-x------"));
        try {
            var denied = assertThrows(java.io.UncheckedIOException.class, () -> open(locked.resolve("kvfn"), 4));
            assertTrue(denied.getMessage().endsWith(locked.resolve("kvfn") + ": Permission denied"), denied.getMessage());
        } finally {
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
        }
    }

    @Test
    void aBudgetBelowOneBlockIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> HostStore.open(dir, FP, LAYOUT.format(), 100));
    }
}
