package dev.kvfn.kv.tier.redis;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code redis-server} process for tests, on a free loopback port: the one on PATH, else the
 * Linux binary shipped inside {@code com.github.codemonstur:embedded-redis} (extracted to a temp
 * file). No persistence. Started and stopped by the test that owns it.
 */
public final class RedisServer implements AutoCloseable {
    private static final String EMBEDDED = "/redis-server-6.2.6-v5-linux-amd64";

    private final Path binary;
    private final int port;
    private final List<String> extraArgs;
    private Process process;

    public RedisServer() throws IOException {
        this(List.of());
    }

    /** A server with more options (e.g. cluster mode), each a separate argument: {@code --cluster-enabled}, {@code yes}. */
    public RedisServer(List<String> extraArgs) throws IOException {
        this.binary = locate();
        this.extraArgs = List.copyOf(extraArgs);
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            this.port = s.getLocalPort();
        }
        start();
    }

    public int port() { return port; }

    public String url() { return "redis://127.0.0.1:" + port; }

    /** Which binary runs (for test logs). */
    public Path binary() { return binary; }

    static Path locate() throws IOException {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, "redis-server");
            if (Files.isExecutable(p)) return p;
        }
        try (InputStream in = RedisServer.class.getResourceAsStream(EMBEDDED)) {
            if (in == null) throw new IOException("no redis-server on PATH and none in the embedded-redis jar (" + EMBEDDED + ")");
            Path tmp = Files.createTempFile("kvfn-redis-server", "");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            tmp.toFile().setExecutable(true, true);
            tmp.toFile().deleteOnExit();
            return tmp;
        }
    }

    /** Starts (or restarts, after {@link #stop()}) the server on the same port, empty. */
    public void start() throws IOException {
        List<String> args = new java.util.ArrayList<>(List.of(binary.toString(), "--port", Integer.toString(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--protected-mode", "no"));
        args.addAll(extraArgs);
        process = new ProcessBuilder(args)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120); // a hang guard: a busy machine starts it late
        while (true) {
            try {
                if (command("PING").contains("PONG")) return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline || !process.isAlive()) {
                    throw new IOException("redis-server " + binary + " did not start on port " + port, e);
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException(ie);
                }
            }
        }
    }

    /** Kills the server (as a crash would). */
    public void stop() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Freezes the server (SIGSTOP: connections are accepted by the kernel, nothing is answered) or thaws it (SIGCONT). */
    public void hang(boolean hung) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", hung ? "-STOP" : "-CONT", Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) throw new IOException("kill " + (hung ? "-STOP" : "-CONT") + " failed");
    }

    /** Sends one inline command and returns its whole raw reply (RESP: {@code +OK}, {@code $n} and the text, ...). */
    public String command(String inline) throws IOException {
        try (Socket s = new Socket(java.net.InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write((inline + "\r\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            java.io.ByteArrayOutputStream reply = new java.io.ByteArrayOutputStream();
            readReply(new java.io.BufferedInputStream(s.getInputStream()), reply);
            return reply.toString(StandardCharsets.UTF_8);
        }
    }

    /** The text of a bulk-string reply (CLUSTER NODES, INFO, GET), without its length line; null for a null reply. */
    public String bulk(String inline) throws IOException {
        String r = command(inline);
        if (r.startsWith("$-1")) return null;
        if (!r.startsWith("$")) throw new IOException(inline + " answered " + r.strip());
        return r.substring(r.indexOf("\r\n") + 2, r.length() - 2);
    }

    private static void readReply(InputStream in, java.io.ByteArrayOutputStream reply) throws IOException {
        String line = readLine(in, reply);
        char type = line.isEmpty() ? ' ' : line.charAt(0);
        if (type == '$') {
            int n = Integer.parseInt(line.substring(1));
            if (n >= 0) reply.write(in.readNBytes(n + 2));
        } else if (type == '*') {
            int n = Integer.parseInt(line.substring(1));
            for (int i = 0; i < n; i++) readReply(in, reply);
        }
    }

    private static String readLine(InputStream in, java.io.ByteArrayOutputStream reply) throws IOException {
        StringBuilder line = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0) {
            reply.write(c);
            if (c == '\n') break;
            if (c != '\r') line.append((char) c);
        }
        return line.toString();
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }
}
