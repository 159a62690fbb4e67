package dev.kvfn.kv.tier;

import dev.kvfn.kv.BlockFormat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Set;
import java.util.zip.CRC32C;

import static dev.kvfn.kv.tier.HostStore.FILE_NAME;
import static dev.kvfn.kv.tier.HostStore.HEADER_BYTES;
import static dev.kvfn.kv.tier.HostStore.MAGIC;
import static dev.kvfn.kv.tier.HostStore.MARK_OFFSET;
import static dev.kvfn.kv.tier.HostStore.VERSION;

/**
 * The {@link HostStore}'s files on disk: their names and per-process locks (one process per file),
 * the private directory they live in, and the header that binds a file to a model, layout and size.
 *
 * <p>Nothing here follows a symbolic link or touches what another user could have put there: each
 * directory and file is examined with {@code lstat} (no links followed) and must be a real directory
 * or regular file owned by this process's user and writable by nobody else; files are opened with
 * {@code O_NOFOLLOW}. Anything else is {@link Unsafe}: the store stays off rather than chmod,
 * truncate or delete through a link into someone else's file.
 */
final class HostStoreFiles {
    static final int MAX_FILES = 8; // blocks.kvfn, blocks.1.kvfn, ...: one per process sharing the directory
    static final Set<Path> HELD = java.util.concurrent.ConcurrentHashMap.newKeySet(); // files this JVM has locked

    private HostStoreFiles() {}

    /** A directory or file of the store that is not this user's own (a link, another owner, writable by others). */
    public static final class Unsafe extends RuntimeException {
        Unsafe(String message) {
            super(message);
        }
    }

    private static final int UNKNOWN_UID = -1;
    private static final int CURRENT_UID = currentUid();

    /** This process's effective user id (the owner of {@code /proc/self}), or -1 where that cannot be read. */
    static int currentUid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | RuntimeException e) {
            return UNKNOWN_UID;
        }
    }

    /** {@code {uid}} in a configured path, replaced by this process's user id (a per-user default directory). */
    static Path forUser(Path configured) {
        String p = configured.toString();
        if (!p.contains("{uid}")) return configured;
        String uid = CURRENT_UID == UNKNOWN_UID ? System.getProperty("user.name", "user") : Integer.toString(CURRENT_UID);
        return Path.of(p.replace("{uid}", uid));
    }

    /**
     * Checks, without following links, that {@code p} is a {@code directory} (or a regular file), owned by this user
     * and writable by nobody else; tightens read access for others to none (it holds users' KV bytes).
     *
     * @throws Unsafe when it is not
     */
    static void requireOwn(Path p, boolean directory) throws IOException {
        PosixFileAttributes a;
        try {
            a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (UnsupportedOperationException e) {
            if (Files.isSymbolicLink(p)) throw new Unsafe(p + " is a symbolic link");
            return; // not a POSIX file system: nothing more to check
        }
        if (a.isSymbolicLink()) throw new Unsafe(p + " is a symbolic link (links are never followed)");
        if (directory ? !a.isDirectory() : !a.isRegularFile()) {
            throw new Unsafe(p + " is not a " + (directory ? "directory" : "regular file"));
        }
        if (CURRENT_UID != UNKNOWN_UID) {
            int owner = (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
            if (owner != CURRENT_UID) throw new Unsafe(p + " belongs to uid " + owner + ", not to this process's uid " + CURRENT_UID);
        } else if (!a.owner().getName().equals(System.getProperty("user.name"))) {
            throw new Unsafe(p + " belongs to " + a.owner().getName() + ", not to " + System.getProperty("user.name"));
        }
        Set<PosixFilePermission> mode = a.permissions();
        if (mode.contains(PosixFilePermission.GROUP_WRITE) || mode.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new Unsafe(p + " is writable by others (" + PosixFilePermissions.toString(mode) + ")");
        }
        Set<PosixFilePermission> own = PosixFilePermissions.fromString(directory ? "rwx------" : "rw-------");
        if (!own.containsAll(mode)) Files.setPosixFilePermissions(p, own); // ours and no link: safe to tighten
    }

    /** Deletes the extra files of processes that once shared the directory and are gone: memory nobody will read. */
    static void deleteUnheldExtras(Path dir) {
        for (int n = 1; n < MAX_FILES; n++) {
            Path extra = dir.resolve(fileName(n));
            if (!Files.exists(extra, LinkOption.NOFOLLOW_LINKS)) continue;
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
                requireOwn(file, false);
                // O_NOFOLLOW as well: the directory is this user's alone, so nothing can swap the checked entry
                ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
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

    /**
     * Creates {@code dir} (0700) when absent, its missing parents too, and checks it is this user's private
     * directory ({@link #requireOwn}). Parents that exist are the administrator's (e.g. {@code /dev/shm}).
     */
    static void createPrivateDirectories(Path dir) throws IOException {
        var privateDir = PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
        try {
            try {
                Files.createDirectory(dir, privateDir);
            } catch (java.nio.file.NoSuchFileException e) {
                Files.createDirectories(dir.toAbsolutePath().getParent());
                Files.createDirectory(dir, privateDir);
            }
        } catch (FileAlreadyExistsException e) {
            // there already (or made meanwhile): checked below, whatever it is
        } catch (UnsupportedOperationException e) {
            Files.createDirectories(dir);
        }
        requireOwn(dir, true);
    }

    static byte[] header(byte[] fingerprint, BlockFormat format, int slots, boolean sealed) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        byte[] text = format.layoutId().getBytes(StandardCharsets.UTF_8);
        b.putLong(MAGIC).putInt(VERSION).putInt(slots).putLong(format.blockBytes()).putInt(format.blockTokens()).putInt(text.length);
        b.put(Arrays.copyOf(fingerprint, 32)).put(text).putInt(sealed ? 1 : 0);
        var crc = new CRC32C();
        crc.update(b.array(), 0, MARK_OFFSET); // not the high-water mark, which changes as the store fills
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

    static Recorded read(FileChannel ch, byte[] fingerprint, BlockFormat format, boolean sealed) throws IOException {
        if (ch.size() < HEADER_BYTES) return Recorded.not("file too short for its header (" + ch.size() + " bytes)");
        byte[] actual = new byte[HEADER_BYTES];
        ByteBuffer buf = ByteBuffer.wrap(actual);
        while (buf.hasRemaining() && ch.read(buf, buf.position()) > 0) { /* read the header */ }
        ByteBuffer a = ByteBuffer.wrap(actual).order(ByteOrder.LITTLE_ENDIAN);
        if (a.getLong(0) != MAGIC) return Recorded.not("not a kvfn host store");
        if (a.getInt(8) != VERSION) return Recorded.not("format version " + a.getInt(8) + ", this build writes " + VERSION);
        var crc = new CRC32C();
        crc.update(actual, 0, MARK_OFFSET);
        if ((int) crc.getValue() != a.getInt(HEADER_BYTES - 4)) return Recorded.not("header checksum mismatch");
        Arrays.fill(actual, MARK_OFFSET, MARK_OFFSET + 8, (byte) 0); // compared with a new header, which has none
        if (!Arrays.equals(actual, 32, 64, Arrays.copyOf(fingerprint, 32), 0, 32)) {
            return Recorded.not("written for another model (fingerprint differs)");
        }
        int slots = a.getInt(12);
        if (slots < 1) return Recorded.not("no slots");
        if (Arrays.equals(actual, header(fingerprint, format, slots, !sealed))) {
            return Recorded.not(sealed ? "written unsealed (kvfn.kv.secret is set now)" : "written sealed (kvfn.kv.secret is not set now)");
        }
        if (!Arrays.equals(actual, header(fingerprint, format, slots, sealed))) return Recorded.not("written with another KV layout");
        return new Recorded(slots, null);
    }

    /** Where the slot data starts in a file of {@code slots} slots. */
    static long dataStart(int slots) {
        return align(HEADER_BYTES + (long) slots * HostStore.ENTRY_BYTES, 4096);
    }
}
