package dev.kvfn.model;

import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** The built-in model the build packs into the jar is exactly the one SyntheticModel generates, so starting from it changes nothing. */
class BuiltinModelResourceTest {

    @Test
    void packagedBytesAreTheGeneratedModel() throws Exception {
        byte[] packaged;
        try (InputStream in = SyntheticModel.class.getResourceAsStream(SyntheticModel.TINY_RESOURCE)) {
            assertNotNull(in, "the build's builtin-model execution wrote no " + SyntheticModel.TINY_RESOURCE);
            packaged = in.readAllBytes();
        }
        byte[] generated = SyntheticModel.inMemoryTiny();
        assertArrayEquals(generated, packaged, "the packaged built-in model differs from SyntheticModel.inMemoryTiny()");
        assertArrayEquals(generated, Files.readAllBytes(SyntheticModel.tinyTempFile()), "tinyTempFile serves those bytes");
    }
}
