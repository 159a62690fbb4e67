package dev.kvfn.function;

import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;
import io.quarkus.test.junit.QuarkusTestProfile;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Test profile: the built-in synthetic tiny model's shape and vocabulary with a 2048-token context, room for a
 * prompt that carries tool definitions (the Hermes/ChatML tool preamble alone is ~600 tokens of its 512-token
 * vocabulary; the built-in model holds 256, stories260K 128 or 512). The test classes on it share one app.
 */
public class LongContextModel implements QuarkusTestProfile {
    static final SyntheticModel.Shape SHAPE = new SyntheticModel.Shape("tiny-2k", 64, 2, 4, 2, 192, 2048, 512, 10000f, 1e-5f);

    private static Path file;

    static synchronized Path file() {
        try {
            if (file == null) {
                Path f = Files.createTempDirectory("kvfn-long").resolve("tiny-2k-F32.gguf");
                SyntheticModel.write(SHAPE, GgmlType.F32, 0, f);
                f.toFile().deleteOnExit();
                f.getParent().toFile().deleteOnExit();
                file = f;
            }
            return file;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of("kvfn.model.path", file().toString());
    }
}
