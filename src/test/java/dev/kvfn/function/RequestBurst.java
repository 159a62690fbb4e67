package dev.kvfn.function;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * A burst of identical HTTP/1.1 POSTs sent by one thread, as lean as a client can be, so that what is timed is the
 * server: every connection is opened first (or, with {@code preconnect} false, all are opened at once and each request
 * goes out as its connection completes), then every request is written at once, and each is timed from its write (or
 * its connect) to the end of its response's headers.
 */
public final class RequestBurst {

    /** @param statuses how many responses had each status code */
    public record Result(int requests, Map<Integer, Integer> statuses, double p50Millis, double p99Millis, double maxMillis) {
        @Override
        public String toString() {
            return String.format("%d requests %s: p50 %.2f ms, p99 %.2f ms, max %.2f ms", requests, statuses, p50Millis, p99Millis, maxMillis);
        }
    }

    private static final class Exchange {
        final SocketChannel channel;
        final ByteBuffer out;
        final ByteBuffer in = ByteBuffer.allocate(8192);
        long start, end;
        int status;

        Exchange(SocketChannel channel, byte[] request) {
            this.channel = channel;
            this.out = ByteBuffer.wrap(request);
        }

        /** The status code once the headers have arrived, else 0. */
        int headersDone() {
            String head = new String(in.array(), 0, in.position(), StandardCharsets.ISO_8859_1);
            if (!head.contains("\r\n\r\n")) return 0;
            return Integer.parseInt(head.substring(9, 12));
        }
    }

    private RequestBurst() {}

    public static Result send(String host, int port, String path, String jsonBody, int n, boolean preconnect) throws IOException {
        byte[] body = jsonBody.getBytes(StandardCharsets.UTF_8);
        byte[] request = ("POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + port + "\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + body.length + "\r\n\r\n" + jsonBody).getBytes(StandardCharsets.UTF_8);
        InetSocketAddress address = new InetSocketAddress(host, port);
        Exchange[] exchanges = new Exchange[n];
        try (Selector selector = Selector.open()) {
            if (preconnect) {
                for (int i = 0; i < n; i++) {
                    SocketChannel c = SocketChannel.open(address);
                    c.configureBlocking(false);
                    exchanges[i] = new Exchange(c, request);
                }
                for (Exchange e : exchanges) {
                    e.start = System.nanoTime();
                    e.channel.write(e.out);
                    e.channel.register(selector, e.out.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ, e);
                }
            } else {
                for (int i = 0; i < n; i++) {
                    SocketChannel c = SocketChannel.open();
                    c.configureBlocking(false);
                    exchanges[i] = new Exchange(c, request);
                    exchanges[i].start = System.nanoTime();
                    boolean connected = c.connect(address);
                    c.register(selector, connected ? SelectionKey.OP_WRITE : SelectionKey.OP_CONNECT, exchanges[i]);
                }
            }
            int done = 0;
            while (done < n) {
                selector.select();
                for (var it = selector.selectedKeys().iterator(); it.hasNext(); ) {
                    SelectionKey key = it.next();
                    it.remove();
                    Exchange e = (Exchange) key.attachment();
                    if (key.isConnectable()) {
                        e.channel.finishConnect();
                        key.interestOps(SelectionKey.OP_WRITE);
                    } else if (key.isWritable()) {
                        e.channel.write(e.out);
                        if (!e.out.hasRemaining()) key.interestOps(SelectionKey.OP_READ);
                    } else if (key.isReadable()) {
                        int read = e.channel.read(e.in);
                        int status = e.headersDone();
                        if (status == 0 && read < 0) throw new IOException("connection closed before a response");
                        if (status != 0) {
                            e.end = System.nanoTime();
                            e.status = status;
                            key.cancel();
                            e.channel.close();
                            done++;
                        }
                    }
                }
            }
        } finally {
            for (Exchange e : exchanges) if (e != null) e.channel.close();
        }
        long[] nanos = new long[n];
        Map<Integer, Integer> statuses = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            nanos[i] = exchanges[i].end - exchanges[i].start;
            statuses.merge(exchanges[i].status, 1, Integer::sum);
        }
        Arrays.sort(nanos);
        return new Result(n, statuses, nanos[n / 2] / 1e6, nanos[(int) Math.ceil(n * 0.99) - 1] / 1e6, nanos[n - 1] / 1e6);
    }
}
