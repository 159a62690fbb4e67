package dev.kvfn.bench;

import dev.kvfn.function.RequestBurst;
import dev.kvfn.model.GgmlType;
import dev.kvfn.model.SyntheticModel;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * How fast a full replica refuses: {@code ./mvnw -B -Pbench verify -Dkvfn.bench.main=dev.kvfn.bench.RefusalBench}.
 * The packaged app ({@code target/kvfn}) serves a synthetic llama-135m Q4_0 with {@code kvfn.limits.max-requests=1};
 * one streaming generation holds the slot and both cores; then bursts of 200 {@code /generate} requests with
 * ~400-token prompts, all refused (429), timed by a one-thread NIO client from each request's write (connections
 * already open) or connect (opened all at once) to the end of its response headers. Each round runs the app with
 * compute threads at nice 0 and at the default nice 10, in alternating order; the table gives medians over rounds of
 * the first burst after start-up, bursts 3-8 (after two unmeasured ones) and bursts 23-28 (after 14 more): the JIT
 * is still compiling the HTTP path through the first thousands of requests.
 */
public final class RefusalBench {
    static final String PROMPT = "Once upon a time, in a land far away, there lived a curious little fox who loved stories. ".repeat(20);

    /** @param first the round's first burst, right after start-up (unmeasured warm-up: the JIT has compiled little yet) */
    record Round(int nice, RequestBurst.Result first, List<RequestBurst.Result> open, List<RequestBurst.Result> connecting,
                 List<RequestBurst.Result> warmOpen, List<RequestBurst.Result> warmConnecting) {}

    public static void main(String[] args) throws Exception {
        int rounds = Integer.getInteger("kvfn.bench.repeat", 3) * 2;
        Path dir = Files.createTempDirectory("kvfn-refusal-bench");
        Path model = dir.resolve("llama-135m-Q4_0.gguf");
        SyntheticModel.write(SyntheticModel.Shape.byName("llama-135m"), GgmlType.Q4_0, 3, model);
        System.out.printf("kvfn refusal benchmark: packaged app, synthetic llama-135m Q4_0, max-requests 1, one streaming generation running%n");
        System.out.printf("machine: %s, %d cores visible, %s %s%n", Bench.cpuName(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name"), System.getProperty("java.version"));
        List<Round> results = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            int[] order = r % 2 == 0 ? new int[] {0, 10} : new int[] {10, 0};
            for (int nice : order) results.add(round(model, dir, nice));
        }
        System.out.println();
        System.out.println("| compute nice | burst | p50 ms (median of rounds) | p99 ms (median of rounds) | rounds |");
        System.out.println("|---|---|---|---|---|");
        for (int nice : new int[] {0, 10}) {
            for (int kind = 0; kind < 4; kind++) {
                List<RequestBurst.Result> all = new ArrayList<>();
                for (Round round : results) {
                    if (round.nice() != nice) continue;
                    all.addAll(switch (kind) {
                        case 0 -> round.open();
                        case 1 -> round.connecting();
                        case 2 -> round.warmOpen();
                        default -> round.warmConnecting();
                    });
                }
                String name = switch (kind) {
                    case 0 -> "connections open, bursts 3-8";
                    case 1 -> "connecting, bursts 3-8";
                    case 2 -> "connections open, bursts 23-28";
                    default -> "connecting, bursts 23-28";
                };
                System.out.printf("| %d | %s | %.1f | %.1f | %d |%n", nice, name,
                        median(all.stream().mapToDouble(RequestBurst.Result::p50Millis).toArray()),
                        median(all.stream().mapToDouble(RequestBurst.Result::p99Millis).toArray()), all.size());
            }
            List<RequestBurst.Result> first = results.stream().filter(r -> r.nice() == nice).map(Round::first).toList();
            System.out.printf("| %d | first after start (connections open) | %.1f | %.1f | %d |%n", nice,
                    median(first.stream().mapToDouble(RequestBurst.Result::p50Millis).toArray()),
                    median(first.stream().mapToDouble(RequestBurst.Result::p99Millis).toArray()), first.size());
        }
        // ratio of p99s, nice 10 over nice 0, paired within each round
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i + 1 < results.size(); i += 2) {
            Round a = results.get(i), b = results.get(i + 1);
            Round zero = a.nice() == 0 ? a : b, ten = a.nice() == 0 ? b : a;
            ratios.add(p99(ten) / p99(zero));
        }
        System.out.printf("%nmedian over rounds of p99(nice 10) / p99(nice 0): %.2f (%s)%n",
                median(ratios.stream().mapToDouble(Double::doubleValue).toArray()), ratios);
    }

    static double p99(Round r) {
        return median(r.open().stream().mapToDouble(RequestBurst.Result::p99Millis).toArray());
    }

    static Round round(Path model, Path dir, int nice) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path log = dir.resolve("app-" + nice + "-" + port + ".log");
        var pb = new ProcessBuilder(List.of(Path.of("target/kvfn").toAbsolutePath().toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.put("KVFN_MODEL_PATH", model.toString());
        env.put("KVFN_LIMITS_MAX_REQUESTS", "1");
        env.put("KVFN_ENGINE_COMPUTE_NICE", Integer.toString(nice));
        env.put("KVFN_KV_HOST_STORE_ENABLED", "false");
        env.put("QUARKUS_HTTP_PORT", Integer.toString(port));
        int managementPort;
        try (ServerSocket free = new ServerSocket(0)) {
            managementPort = free.getLocalPort();
        }
        env.put("QUARKUS_MANAGEMENT_PORT", Integer.toString(managementPort)); // health is there, not on the public port
        Process app = pb.start();
        try {
            awaitReady(app, managementPort, log);
            String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4000, \"stream\": true}";
            try (Socket stream = new Socket("127.0.0.1", port)) {
                OutputStream out = stream.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(stream.getInputStream(), StandardCharsets.UTF_8));
                String status = in.readLine();
                if (status == null || !status.contains(" 200 ")) throw new IllegalStateException("the generation was refused: " + status);
                for (String line = in.readLine(); line != null && !line.startsWith("data: "); line = in.readLine()) {
                    // until the first token: the generation runs (4000 tokens outlast the bursts)
                }
                String generate = "{\"prompt\": \"" + PROMPT + "\", \"maxTokens\": 8}";
                var first = check(RequestBurst.send("127.0.0.1", port, "/generate", generate, 200, true)); // warm-up
                RequestBurst.send("127.0.0.1", port, "/generate", generate, 200, false);
                List<RequestBurst.Result> open = new ArrayList<>(), connecting = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    open.add(check(RequestBurst.send("127.0.0.1", port, "/generate", generate, 200, true)));
                    connecting.add(check(RequestBurst.send("127.0.0.1", port, "/generate", generate, 200, false)));
                }
                for (int i = 0; i < 14; i++) RequestBurst.send("127.0.0.1", port, "/generate", generate, 200, i % 2 == 0); // 2800 more refusals
                List<RequestBurst.Result> warmOpen = new ArrayList<>(), warmConnecting = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    warmOpen.add(check(RequestBurst.send("127.0.0.1", port, "/generate", generate, 200, true)));
                    warmConnecting.add(check(RequestBurst.send("127.0.0.1", port, "/generate", generate, 200, false)));
                }
                System.out.printf("nice %2d: first %s | open %s | connecting %s | later, open %s | later, connecting %s%n", nice, first, open,
                        connecting, warmOpen, warmConnecting);
                return new Round(nice, first, open, connecting, warmOpen, warmConnecting);
            }
        } finally {
            app.destroy();
            if (!app.waitFor(60, TimeUnit.SECONDS)) app.destroyForcibly();
        }
    }

    static RequestBurst.Result check(RequestBurst.Result r) {
        if (!r.statuses().equals(Map.of(429, r.requests()))) throw new IllegalStateException("not all refused: " + r);
        return r;
    }

    /** Waits for readiness on the management interface listening on {@code port}. */
    static void awaitReady(Process app, int port, Path log) throws Exception {
        while (true) {
            if (!app.isAlive()) throw new IllegalStateException("kvfn exited during start-up:\n" + Files.readString(log));
            try (Socket s = new Socket("127.0.0.1", port)) {
                s.getOutputStream().write("GET /q/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                String status = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII)).readLine();
                if (status != null && status.contains(" 200 ")) return;
            } catch (IOException notYet) {
                // still starting
            }
            Thread.sleep(100);
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
