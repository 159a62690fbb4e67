package dev.kvfn.kv.tier.redis;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A real Redis Cluster for tests: 3 masters (slots 0-5460, 5461-10922, 10923-16383) and one replica each, every
 * node a {@code redis-server} in cluster mode on a free loopback port with its own directory, built by hand
 * (CLUSTER SET-CONFIG-EPOCH, ADDSLOTS, MEET, REPLICATE) so no {@code redis-cli} is needed. Replicas do not fail
 * over on their own ({@code cluster-replica-no-failover yes}) until a test allows it, so a test decides when the
 * outage ends; the node timeout is 1 s. Clients connect as the ACL user {@value #USER}, allowed only the tier's
 * commands and {@code CLUSTER SLOTS} on {@code ~kvfn:*}; the test's own admin commands use the default user. With
 * {@link Tls} every node also listens for TLS clients and runs its cluster bus and replication over TLS; clients then
 * use the TLS ports (which CLUSTER SLOTS reports to a TLS client). Each node's bus port is a free port of its own
 * (not port + 10000, which can pass 65535).
 */
final class RedisCluster implements AutoCloseable {
    static final int MASTERS = 3;
    static final String USER = "kvfn", PASSWORD = "kvfn-test-cluster-password-0123";

    /** The PEM files of a node certificate (for 127.0.0.1) and the CA that signed it. */
    record Tls(Path cert, Path key, Path ca) {}

    /**
     * A node: its server, its cluster id, the slots it was given (masters) or whose master it replicates, and the
     * port its clients use (the TLS port with {@link Tls}).
     */
    record Node(RedisServer server, String id, int firstSlot, int lastSlot, int clientPort, boolean tls) {
        /** The URL as the tier's client uses it: the ACL user in the userinfo, which the client carries to every node it discovers. */
        String url() { return (tls ? "rediss://" : "redis://") + USER + ":" + PASSWORD + "@127.0.0.1:" + clientPort; }
    }

    final List<Node> masters = new ArrayList<>(), replicas = new ArrayList<>();

    RedisCluster(Path dir) throws Exception {
        this(dir, null);
    }

    RedisCluster(Path dir, Tls tls) throws Exception {
        List<RedisServer> servers = new ArrayList<>();
        List<Integer> clientPorts = new ArrayList<>(), busPorts = new ArrayList<>();
        try {
            for (int i = 0; i < 2 * MASTERS; i++) {
                Path d = Files.createDirectories(dir.resolve("node" + i));
                int bus = freePort();
                List<String> args = new ArrayList<>(List.of("--cluster-enabled", "yes", "--cluster-config-file", d.resolve("nodes.conf").toString(),
                        "--cluster-port", Integer.toString(bus),
                        "--dir", d.toString(), "--cluster-node-timeout", "1000", "--cluster-replica-no-failover", "yes",
                        "--cluster-replica-validity-factor", "0", "--user", USER, "on", ">" + PASSWORD, "~kvfn:*", "resetchannels", "-@all",
                        "+cluster|slots"));
                for (String c : RedisTlsAclTest.TIER_COMMANDS) args.add("+" + c);
                int tlsPort = tls == null ? 0 : freePort();
                if (tls != null) { // the plain port stays for the test's own admin commands (loopback, default user)
                    args.addAll(List.of("--tls-port", Integer.toString(tlsPort), "--tls-cert-file", tls.cert().toString(),
                            "--tls-key-file", tls.key().toString(), "--tls-ca-cert-file", tls.ca().toString(),
                            "--tls-auth-clients", "no", "--tls-cluster", "yes", "--tls-replication", "yes"));
                }
                RedisServer server = new RedisServer(args);
                servers.add(server);
                clientPorts.add(tls == null ? server.port() : tlsPort);
                busPorts.add(bus);
            }
            for (int i = 0; i < 2 * MASTERS; i++) {
                RedisServer s = servers.get(i);
                String id = s.bulk("CLUSTER MYID").strip();
                if (i < MASTERS) {
                    int first = i * (16384 / MASTERS) + Math.min(i, 16384 % MASTERS), size = 16384 / MASTERS + (i < 16384 % MASTERS ? 1 : 0);
                    ok(s, "CLUSTER SET-CONFIG-EPOCH " + (i + 1));
                    StringBuilder add = new StringBuilder("CLUSTER ADDSLOTS");
                    for (int slot = first; slot < first + size; slot++) add.append(' ').append(slot);
                    ok(s, add.toString());
                    masters.add(new Node(s, id, first, first + size - 1, clientPorts.get(i), tls != null));
                } else {
                    Node master = masters.get(i - MASTERS);
                    replicas.add(new Node(s, id, master.firstSlot(), master.lastSlot(), clientPorts.get(i), tls != null));
                }
            }
            for (int i = 1; i < servers.size(); i++) {
                ok(servers.get(0), "CLUSTER MEET 127.0.0.1 " + clientPorts.get(i) + " " + busPorts.get(i));
            }
            await("every node knows all " + servers.size(), () -> servers.stream().allMatch(s -> nodesLines(s).size() == servers.size()
                    && nodesLines(s).stream().noneMatch(l -> l.contains("handshake") || l.contains("noaddr"))));
            for (int i = 0; i < MASTERS; i++) ok(replicas.get(i).server(), "CLUSTER REPLICATE " + masters.get(i).id());
            await("cluster ok, replicas in sync", () -> servers.stream().allMatch(s -> info(s, "CLUSTER INFO").contains("cluster_state:ok"))
                    && replicas.stream().allMatch(r -> info(r.server(), "INFO replication").contains("master_link_status:up")));
        } catch (Exception e) {
            for (RedisServer s : servers) s.stop();
            throw e;
        }
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Every node's URL (a client finds the slot map through any live one). */
    List<String> urls() {
        List<String> urls = new ArrayList<>();
        for (Node n : masters) urls.add(n.url());
        for (Node n : replicas) urls.add(n.url());
        return urls;
    }

    /** The master first given {@code slot}. */
    Node masterOf(int slot) {
        for (Node m : masters) if (slot >= m.firstSlot() && slot <= m.lastSlot()) return m;
        throw new IllegalArgumentException("slot " + slot);
    }

    Node replicaOf(Node master) {
        return replicas.get(masters.indexOf(master));
    }

    /** Waits until every replica has applied everything its (live) master wrote. */
    void awaitReplicated() throws Exception {
        await("replicas caught up", () -> {
            for (int i = 0; i < MASTERS; i++) {
                long master = offset(info(masters.get(i).server(), "INFO replication"), "master_repl_offset:");
                long replica = offset(info(replicas.get(i).server(), "INFO replication"), "slave_repl_offset:");
                if (master < 0 || master != replica) return false;
            }
            return true;
        });
    }

    /** Lets {@code replica} fail over its (dead) master and waits until it serves the slots and the cluster is ok again. */
    void failOver(Node replica, Node deadMaster) throws Exception {
        ok(replica.server(), "CONFIG SET cluster-replica-no-failover no");
        List<RedisServer> live = new ArrayList<>();
        for (Node n : masters) if (n != deadMaster) live.add(n.server());
        for (Node n : replicas) live.add(n.server());
        await("the replica took over", () -> live.stream().allMatch(s -> info(s, "CLUSTER INFO").contains("cluster_state:ok")
                && nodesLines(s).stream().anyMatch(l -> l.startsWith(replica.id()) && l.split(" ")[2].contains("master"))));
    }

    static String info(RedisServer s, String command) {
        try {
            String r = s.bulk(command);
            return r == null ? "" : r;
        } catch (IOException e) {
            return "";
        }
    }

    private static List<String> nodesLines(RedisServer s) {
        return info(s, "CLUSTER NODES").lines().filter(l -> !l.isBlank()).toList();
    }

    private static long offset(String info, String field) {
        return info.lines().filter(l -> l.startsWith(field)).map(l -> Long.parseLong(l.substring(field.length()).strip()))
                .findFirst().orElse(-1L);
    }

    private static void ok(RedisServer s, String command) throws IOException {
        String r = s.command(command);
        if (!r.startsWith("+OK")) throw new IOException(command.substring(0, Math.min(60, command.length())) + " answered " + r.strip());
    }

    /** Polls a state (a hang guard of 2 minutes, for a busy machine; never a timing assertion). */
    static void await(String what, BooleanSupplier state) throws Exception {
        long guard = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!state.getAsBoolean()) {
            if (System.nanoTime() > guard) throw new IllegalStateException("never reached: " + what);
            Thread.sleep(20);
        }
    }

    @Override
    public void close() throws Exception {
        for (Node n : masters) n.server().stop();
        for (Node n : replicas) n.server().stop();
    }
}
