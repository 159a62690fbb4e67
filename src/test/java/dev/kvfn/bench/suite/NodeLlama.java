package dev.kvfn.bench.suite;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Native llama.cpp through node-llama-cpp: one {@code node bench-peer.mjs} process for the whole run, driven by
 * one JSON command per line (see the script). It holds every model the suite loads into it.
 */
final class NodeLlama implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    private final Process node;
    private final Path log;
    private final OutputStream in;
    private final BufferedReader out;

    NodeLlama(Path script, Path logDir) throws IOException {
        Path dir = script.toAbsolutePath().getParent();
        if (!Files.isRegularFile(script)) throw new IllegalStateException(script + " is missing");
        if (!Files.isDirectory(dir.resolve("node_modules/node-llama-cpp"))) {
            throw new IllegalStateException("node-llama-cpp is not installed: cd " + dir + " && npm ci --omit=optional --no-audit --no-fund");
        }
        log = logDir.resolve("llama.cpp.log");
        node = new ProcessBuilder("node", script.getFileName().toString()).directory(dir.toFile())
                .redirectError(log.toFile()).start();
        in = node.getOutputStream();
        out = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8));
    }

    /** Sends one command and waits for its answer; an answer with "error" throws. */
    synchronized JsonNode call(ObjectNode command) throws IOException {
        in.write((JSON.writeValueAsString(command) + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
        String line = out.readLine();
        if (line == null) {
            throw new IOException("bench-peer.mjs exited (status " + exitStatus() + "); its log " + log + ":\n" + Files.readString(log));
        }
        JsonNode answer = JSON.readTree(line);
        if (answer.has("error")) throw new IllegalStateException("llama.cpp (" + command.path("op").asText() + "): " + answer.get("error").asText());
        return answer;
    }

    ObjectNode command(String op) {
        return JSON.createObjectNode().put("op", op);
    }

    static void putTokens(ObjectNode command, String field, int[] tokens) {
        var array = command.putArray(field);
        for (int t : tokens) array.add(t);
    }

    static void putPrompts(ObjectNode command, List<int[]> prompts) {
        var array = command.putArray("prompts");
        for (int[] p : prompts) {
            var one = array.addArray();
            for (int t : p) one.add(t);
        }
    }

    private String exitStatus() {
        try {
            return node.waitFor(5, TimeUnit.SECONDS) ? Integer.toString(node.exitValue()) : "still running";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    @Override
    public void close() throws Exception {
        try {
            if (node.isAlive()) {
                in.write("{\"op\":\"quit\"}\n".getBytes(StandardCharsets.UTF_8));
                in.flush();
            }
        } catch (IOException gone) {
            // already exited
        }
        if (!node.waitFor(30, TimeUnit.SECONDS)) node.destroyForcibly();
    }
}
