package dev.kvfn.model;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Java's file errors for EACCES, ENOENT, ... carry only the path; a refusal to start must also say why. */
class FileErrorsTest {

    @Test
    void fileSystemErrorsNameThePathAndTheReason() {
        assertEquals("/dev/shm/kvfn: Permission denied", FileErrors.describe(new AccessDeniedException("/dev/shm/kvfn")));
        assertEquals("/m.gguf: No such file or directory", FileErrors.describe(new NoSuchFileException("/m.gguf")));
        assertEquals("/a -> /b: Read-only file system", FileErrors.describe(new FileSystemException("/a", "/b", "Read-only file system")));
        assertEquals("No space left on device", FileErrors.describe(new IOException("No space left on device")));
        assertEquals("IOException", FileErrors.describe(new IOException()));
    }
}
