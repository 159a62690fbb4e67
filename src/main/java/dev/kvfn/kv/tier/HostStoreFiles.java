package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockFormat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Set;
import java.util.zip.CRC32C;

import static dev.kvfn.kv.tier.HostStore.FILE_NAME;
import static dev.kvfn.kv.tier.HostStore.HEADER_BYTES;
import static dev.kvfn.kv.tier.HostStore.MAGIC;
import static dev.kvfn.kv.tier.HostStore.VERSION;

/**
 * The {@link HostStore}'s files on disk: their names and per-process locks (one process per file),
 * the private directory they live in, and the header that binds a file to a model, layout and size.
 */
final class HostStoreFiles {
    static final int MAX_FILES = 8; // blocks.kvfn, blocks.1.kvfn, ...: one per process sharing the directory
    static final Set<Path> HELD = java.util.concurrent.ConcurrentHashMap.newKeySet(); // files this JVM has locked

    private HostStoreFiles() {}

    /** Deletes the extra files of processes that once shared the directory and are gone: memory nobody will read. */
    static void deleteUnheldExtras(Path dir) {
        for (int n = 1; n < MAX_FILES; n++) {
            Path extra = dir.resolve(fileName(n));
            if (!Files.exists(extra)) continue;
            try {
                FileChannel other = openLocked(extra, false); // null: held by a live process, or by this JVM
                if (other == null) continue;
                try (other) {
                    Files.deleteIfExists(extra);
                } finally {
                    HELD.remove(extra.toAbsolutePath().normalize());
                }
            } catch (IOException ignored) {
                // left for next time
            }
        }
    }

    static String fileName(int n) {
        return n == 0 ? FILE_NAME : "blocks." + n + ".kvfn";
    }

    /** The file, created 0600 if absent (when asked), opened and exclusively locked; null when another process holds it. */
    static FileChannel openLocked(Path file, boolean create) throws IOException {
        // Claimed in this JVM first, and a file another store of this JVM holds is not even opened: closing any
        // descriptor of a file drops every lock this process holds on it.
        Path claim = file.toAbsolutePath().normalize();
        if (!HELD.add(claim)) return null;
        FileChannel ch = null;
        try {
            if (create) {
                try {
                    Files.createFile(file, PosixFilePermissions.asFileAttribute(Set.of(PosixFilePermission.OWNER_READ,
                            PosixFilePermission.OWNER_WRITE)));
                } catch (FileAlreadyExistsException e) {
                    // attach below
                } catch (UnsupportedOperationException e) {
                    if (!Files.exists(file)) Files.createFile(file);
                }
            }
            try {
                ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
            } catch (java.nio.file.NoSuchFileException e) {
                if (create) throw e;
                return null; // removed meanwhile
            }
            java.nio.channels.FileLock lock;
            try {
                lock = ch.tryLock(); // null: another process holds it
            } catch (java.nio.channels.OverlappingFileLockException e) {
                lock = null; // this JVM holds it (not through this class)
            }
            if (lock == null) {
                ch.close();
                ch = null;
            }
            return ch;
        } finally {
            if (ch == null) HELD.remove(claim);
        }
    }

    static long align(long v, long to) {
        return (v + to - 1) / to * to;
    }

    static void createPrivateDirectories(Path dir) throws IOException {
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            throw new IOException(dir + " exists and is not a directory");
        } catch (UnsupportedOperationException e) {
            Files.createDirectories(dir);
        }
        try {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        } catch (UnsupportedOperationException ignored) {
            // not a POSIX file system
        }
    }

    static byte[] header(byte[] fingerprint, BlockFormat format, int slots) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        byte[] text = format.layoutId().getBytes(StandardCharsets.UTF_8);
        b.putLong(MAGIC).putInt(VERSION).putInt(slots).putLong(format.blockBytes()).putInt(format.blockTokens()).putInt(text.length);
        b.put(Arrays.copyOf(fingerprint, 32)).put(text);
        var crc = new CRC32C();
        crc.update(b.array(), 0, HEADER_BYTES - 4);
        b.putInt(HEADER_BYTES - 4, (int) crc.getValue());
        return b.array();
    }

    /**
     * What an existing file's header records: its slot count when it is a sound header for this model and
     * layout (any size), else why it cannot be attached.
     *
     * @param slots   the recorded slot count (0 with a problem)
     * @param problem why the file cannot be attached, or null
     */
    record Recorded(int slots, String problem) {
        static Recorded not(String problem) {
            return new Recorded(0, problem);
        }
    }

    static Recorded read(FileChannel ch, byte[] fingerprint, BlockFormat format) throws IOException {
        if (ch.size() < HEADER_BYTES) return Recorded.not("file too short for its header (" + ch.size() + " bytes)");
        byte[] actual = new byte[HEADER_BYTES];
        ByteBuffer buf = ByteBuffer.wrap(actual);
        while (buf.hasRemaining() && ch.read(buf, buf.position()) > 0) { /* read the header */ }
        ByteBuffer a = ByteBuffer.wrap(actual).order(ByteOrder.LITTLE_ENDIAN);
        if (a.getLong(0) != MAGIC) return Recorded.not("not a kvfn host store");
        if (a.getInt(8) != VERSION) return Recorded.not("format version " + a.getInt(8) + ", this build writes " + VERSION);
        var crc = new CRC32C();
        crc.update(actual, 0, HEADER_BYTES - 4);
        if ((int) crc.getValue() != a.getInt(HEADER_BYTES - 4)) return Recorded.not("header checksum mismatch");
        if (!Arrays.equals(actual, 32, 64, Arrays.copyOf(fingerprint, 32), 0, 32)) {
            return Recorded.not("written for another model (fingerprint differs)");
        }
        int slots = a.getInt(12);
        if (slots < 1 || !Arrays.equals(actual, header(fingerprint, format, slots))) return Recorded.not("written with another KV layout");
        return new Recorded(slots, null);
    }

    /** Where the slot data starts in a file of {@code slots} slots. */
    static long dataStart(int slots) {
        return align(HEADER_BYTES + (long) slots * HostStore.ENTRY_BYTES, 4096);
    }
}
