package dev.kvfn.function;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs src/test/node/openai-compat.mjs (the official {@code openai} npm package, pinned there) against the running
 * app. CI ({@code .ci/run}) installs it with {@code npm ci} first and sets CI=true, so there a missing Node or
 * package fails this test; on a machine without them it is skipped, saying why.
 */
@QuarkusTest
@TestProfile(LongContextModel.class) // room in the context for tool definitions
class OpenAiNodeSdkCompatTest {
    static final Path SCRIPT_DIR = Path.of("src/test/node");

    @TestHTTPResource("/v1")
    URL v1;

    @Test
    void theOpenAiNodeSdkPassesEveryCheck() throws Exception {
        boolean ci = System.getenv("CI") != null && !System.getenv("CI").isEmpty() && !"false".equals(System.getenv("CI"));
        boolean installed = Files.isDirectory(SCRIPT_DIR.resolve("node_modules/openai"));
        String node = nodeVersion();
        if (!ci) {
            Assumptions.assumeTrue(node != null, "node is not on PATH");
            Assumptions.assumeTrue(installed, "run `npm ci` in src/test/node first");
        }
        assertTrue(node != null, "node is not on PATH (CI must install it)");
        assertTrue(Integer.parseInt(node.replaceAll("^v(\\d+).*", "$1")) >= 20, "the openai package needs Node 20 or newer, found " + node);
        assertTrue(installed, "src/test/node/node_modules/openai is missing: CI must run `npm ci` in src/test/node");
        Process p = new ProcessBuilder("node", "openai-compat.mjs", v1.toString()).directory(SCRIPT_DIR.toFile())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the script ends"); // its output is read to the end above
        System.out.println(output);
        assertEquals(0, p.exitValue(), "OpenAI Node SDK checks failed:\n" + output);
        assertTrue(output.contains("all OpenAI Node SDK checks passed"), output);
    }

    static String nodeVersion() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.waitFor() == 0 ? v : null;
        } catch (IOException | InterruptedException e) {
            return null;
        }
    }
}
