package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockKey;
import dev.kvfn.kv.seal.KvSecret;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.zip.CRC32C;

import static dev.kvfn.kv.tier.HostStoreTest.FP;
import static dev.kvfn.kv.tier.HostStoreTest.LAYOUT;
import static dev.kvfn.kv.tier.HostStoreTest.block;
import static dev.kvfn.kv.tier.HostStoreTest.key;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Attacks on the host store's file: a symbolic link where its directory or file belongs (pointing at
 * a victim's directory or file), a directory others may write, and slot bytes moved to another key's
 * slot or forged. The store never follows a link nor "repairs" what is not its own — the tier turns
 * off with the reason — and never serves bytes under a key they were not written for.
 */
class HostStoreAttackTest {
    static final String NS = "fp-attack";

    @TempDir
    Path dir;

    KvTiers tiers(Path base) {
        return KvTiers.open(LAYOUT.format(), FP, NS, HostStoreOptions.at(base, 8 * (LAYOUT.blockBytes() + HostStore.ENTRY_BYTES)), null, 0);
    }

    static void assertOff(KvTiers t, String reason) {
        TierStats host = t.stats().get(0);
        assertEquals("host", host.tier());
        assertTrue(host.state().startsWith("off: ") && host.state().contains(reason), host.state());
        assertEquals(1, host.faults(), "counted");
        assertTrue(t.hostStoreDescription().startsWith("off: "), t.hostStoreDescription());
    }

    @Test
    void aSymlinkedStoreDirectoryIsNotFollowed() throws Exception {
        Path base = Files.createDirectory(dir.resolve("base"));
        Path victim = Files.createDirectory(dir.resolve("victim"));
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createSymbolicLink(base.resolve(NS), victim);
        try (KvTiers t = tiers(base)) {
            assertOff(t, "symbolic link");
        }
        try (var files = Files.list(victim)) {
            assertEquals(0, files.count(), "nothing created in the link's target");
        }
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(victim)), "its mode untouched");
        // the base directory itself as a link
        Path linkedBase = Files.createSymbolicLink(dir.resolve("linked-base"), victim);
        try (KvTiers t = tiers(linkedBase)) {
            assertOff(t, "symbolic link");
        }
        try (var files = Files.list(victim)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void aSymlinkedStoreFileLeavesItsVictimUntouched() throws Exception {
        Path base = Files.createDirectory(dir.resolve("base"));
        Path store = Files.createDirectory(base.resolve(NS), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path victim = Files.writeString(dir.resolve("victim.txt"), "someone's precious data\n");
        Files.createSymbolicLink(store.resolve(HostStore.FILE_NAME), victim);
        Path extraVictim = Files.writeString(dir.resolve("victim2.txt"), "more\n");
        Files.createSymbolicLink(store.resolve("blocks.1.kvfn"), extraVictim);
        try (KvTiers t = tiers(base)) {
            assertOff(t, "symbolic link");
        }
        assertEquals("someone's precious data\n", Files.readString(victim), "not truncated, not rewritten");
        assertEquals("more\n", Files.readString(extraVictim));
        assertTrue(Files.isSymbolicLink(store.resolve(HostStore.FILE_NAME)));
    }

    @Test
    void aDirectoryOthersMayWriteTurnsTheTierOff() throws Exception {
        Path base = Files.createDirectory(dir.resolve("base"));
        Path store = Files.createDirectory(base.resolve(NS));
        Files.setPosixFilePermissions(store, PosixFilePermissions.fromString("rwxrwxrwx"));
        try (KvTiers t = tiers(base)) {
            assertOff(t, "writable by others");
        }
        assertEquals("rwxrwxrwx", PosixFilePermissions.toString(Files.getPosixFilePermissions(store)), "not chmodded: not ours to fix");
        try (var files = Files.list(store)) {
            assertEquals(0, files.count());
        }
        // a store file writable by the group: off as well
        Path base2 = Files.createDirectory(dir.resolve("base2"));
        Path store2 = Files.createDirectory(base2.resolve(NS), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path file = Files.writeString(store2.resolve(HostStore.FILE_NAME), "x");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw----"));
        try (KvTiers t = tiers(base2)) {
            assertOff(t, "writable by others");
        }
        assertEquals("x", Files.readString(file));
    }

    @Test
    void aPrivateDirectoryIsCreatedAndUsed() throws Exception {
        Path base = dir.resolve("fresh").resolve("kvfn-" + HostStoreFiles.currentUid());
        try (KvTiers t = tiers(base); Arena arena = Arena.ofConfined()) {
            assertEquals("ok", t.stats().get(0).state());
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(base)));
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(base.resolve(NS))));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(base.resolve(NS).resolve(HostStore.FILE_NAME))));
        }
        assertEquals(Path.of("/dev/shm/kvfn-" + HostStoreFiles.currentUid()), HostStoreOptions.perUser(Path.of("/dev/shm/kvfn-{uid}")));
    }

    static final int SLOTS = 4;

    static long dataStart() {
        return (HostStore.HEADER_BYTES + (long) SLOTS * HostStore.ENTRY_BYTES + 4095) / 4096 * 4096;
    }

    /** What an attacker with write access to the file can do: recompute the (unkeyed) entry checksum. */
    static void fixEntryCrc(RandomAccessFile f, int slot) throws Exception {
        long e = HostStore.HEADER_BYTES + (long) slot * HostStore.ENTRY_BYTES;
        byte[] entry = new byte[HostStore.ENTRY_BYTES];
        f.seek(e);
        f.readFully(entry);
        var crc = new CRC32C();
        crc.update(entry, 4, 12);
        crc.update(entry, 24, 4);
        crc.update(entry, 32, 64 + 12);
        f.seek(e + 28);
        f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) crc.getValue()).array());
    }

    /** Slot 1's bytes and block checksum copied into slot 0 (key 1's entry), its entry checksum made to match. */
    static void moveSlot1IntoSlot0(Path file, long slotBytes) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            byte[] data = new byte[(int) slotBytes];
            f.seek(dataStart() + slotBytes);
            f.readFully(data);
            f.seek(dataStart());
            f.write(data);
            byte[] crcAndNonce = new byte[4];
            f.seek(HostStore.HEADER_BYTES + HostStore.ENTRY_BYTES + 12);
            f.readFully(crcAndNonce);
            f.seek(HostStore.HEADER_BYTES + 12);
            f.write(crcAndNonce);
            byte[] nonce = new byte[12];
            f.seek(HostStore.HEADER_BYTES + HostStore.ENTRY_BYTES + 96);
            f.readFully(nonce);
            f.seek(HostStore.HEADER_BYTES + 96);
            f.write(nonce);
            fixEntryCrc(f, 0);
        }
    }

    static HostStore open(Path d, KvSecret secret) {
        long budget = SLOTS * (HostStore.slotBytes(LAYOUT.format(), secret != null) + HostStore.ENTRY_BYTES);
        return HostStore.open(d.getParent(), d.getFileName().toString(), FP, LAYOUT.format(), budget, secret);
    }

    /** Stores blocks 1 and 2 (slots 0 and 1), moves slot 1's bytes into slot 0, reopens: key 1 must not restore. */
    void bytesMovedToAnotherKeysSlotAreRefused(Path d, KvSecret secret) throws Exception {
        Path file;
        try (HostStore s = open(d, secret); Arena arena = Arena.ofConfined()) {
            assertTrue(s.put(key(1), null, block(arena, 1), 0));
            assertTrue(s.put(key(2), key(1), block(arena, 2), 0));
            file = s.file();
        }
        moveSlot1IntoSlot0(file, HostStore.slotBytes(LAYOUT.format(), secret != null));
        try (HostStore s = open(d, secret); Arena arena = Arena.ofConfined()) {
            assertEquals(2, s.size(), "both entries look sound: " + s.openOutcome());
            MemorySegment dst = arena.allocate(LAYOUT.blockBytes());
            assertFalse(HostStoreRestore.restore(s, key(1), dst, 0), "key 2's bytes are never served as key 1's");
            assertEquals(1, s.stats().faults());
            assertFalse(s.contains(key(1)), "dropped");
            assertTrue(HostStoreRestore.restore(s, key(2), dst, 0));
            assertArrayEquals(block(arena, 2).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), dst.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void bytesMovedToAnotherKeysSlotAreRefusedByTheKeyBoundChecksum() throws Exception {
        bytesMovedToAnotherKeysSlotAreRefused(dir.resolve("plain"), null);
    }

    @Test
    void aSealedStoreRefusesMovedForgedAndOtherSecretsBlocks() throws Exception {
        KvSecret secret = KvSecret.of("host-store-test-secret-0123456789");
        bytesMovedToAnotherKeysSlotAreRefused(dir.resolve("sealed"), secret);
        // forged: ciphertext changed and every checksum fixed up, which the tag still catches
        Path d = dir.resolve("forged");
        Path file;
        try (HostStore s = open(d, secret); Arena arena = Arena.ofConfined()) {
            assertTrue(s.put(key(1), null, block(arena, 1), 0));
            file = s.file();
            assertTrue(s.openOutcome().startsWith("created"));
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(dataStart() + 7);
            f.write(0x55);
            byte[] data = new byte[(int) HostStore.slotBytes(LAYOUT.format(), true)];
            f.seek(dataStart());
            f.readFully(data);
            var crc = new CRC32C();
            crc.update(key(1).toBytes());
            crc.update(data);
            f.seek(HostStore.HEADER_BYTES + 12);
            f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) crc.getValue()).array());
            fixEntryCrc(f, 0);
        }
        try (HostStore s = open(d, secret); Arena arena = Arena.ofConfined()) {
            assertEquals(1, s.size());
            assertFalse(HostStoreRestore.restore(s, key(1), arena.allocate(LAYOUT.blockBytes()), 0));
            assertEquals(1, s.stats().faults());
        }
        // the bytes are not in clear in the file
        try (HostStore s = open(d, secret); Arena arena = Arena.ofConfined()) {
            assertTrue(s.put(key(3), null, block(arena, 3), 0));
        }
        byte[] all = Files.readAllBytes(file);
        byte[] plain = block(Arena.global(), 3).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        assertEquals(-1, indexOf(all, java.util.Arrays.copyOf(plain, 64)), "sealed, not in clear");
        // another deployment's secret opens nothing of it
        try (HostStore s = open(d, KvSecret.of("another-secret-abcdefghijklmnop")); Arena arena = Arena.ofConfined()) {
            assertTrue(s.contains(key(3)));
            assertFalse(HostStoreRestore.restore(s, key(3), arena.allocate(LAYOUT.blockBytes()), 0));
        }
        // and a store written without a secret is not attached as a sealed one (nor the reverse)
        try (HostStore s = open(d, null)) {
            assertEquals("replaced: written sealed (kvfn.kv.secret is not set now)", s.openOutcome());
        }
        try (HostStore s = open(d, secret)) {
            assertEquals("replaced: written unsealed (kvfn.kv.secret is set now)", s.openOutcome());
        }
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }
}
