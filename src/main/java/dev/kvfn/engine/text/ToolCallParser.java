package dev.kvfn.engine.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Splits a model's output, as it streams, into content and function calls in its family's syntax. Content
 * before a call streams as it comes (only text that may still become a call's opening marker, and trailing
 * white space, wait); from a marker on, the text is held until the call block is complete, then becomes a
 * {@link Call} when it is a well-formed call of a known function, or goes back to content, unchanged, when it is
 * not. One parser per generation; not thread-safe (the engine's sink calls it from one thread at a time).
 */
public final class ToolCallParser {

    /** What the output turned into, in order. */
    public sealed interface Event permits Content, Call {}

    /** Text for the message's content. */
    public record Content(String text) implements Event {}

    /** A complete call, the {@code index}-th of this output. */
    public record Call(int index, ToolCall call) implements Event {}

    private static final String ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private final ToolCallSyntax syntax;
    private final Set<String> names;
    private final int maxCalls;
    private final StringBuilder buf = new StringBuilder();
    private boolean inBlock;
    private String opener = "";     // what opened the current block: goes back to content if the block is no call
    private boolean atStart = true; // nothing but white space so far: a bare call may start
    private int scanned;            // how far the open block was searched for its closing text
    private int calls;

    /**
     * @param names    the functions the request declared: a call of another name is not a call
     * @param maxCalls calls kept at most (1 when {@code parallel_tool_calls} is false); later ones are dropped
     */
    public ToolCallParser(ToolCallSyntax syntax, Set<String> names, int maxCalls) {
        this.syntax = syntax;
        this.names = Set.copyOf(names);
        this.maxCalls = maxCalls;
    }

    /**
     * The output continues a prefix that was put in the prompt (a forced call's {@link ForcedToolCall#prefix}):
     * parse as if it had been generated, but it is no output of its own.
     */
    public void afterPrompted(String prefix) {
        if (prefix.isEmpty()) return;
        for (Event e : feed(prefix)) {
            if (!(e instanceof Content c) || !c.text().isBlank()) throw new IllegalArgumentException("not a call prefix: " + prefix);
        }
        if (!inBlock) throw new IllegalArgumentException("not a call prefix: " + prefix);
        opener = "";
    }

    /** Text the generation produced next; what became final. */
    public List<Event> feed(String text) {
        buf.append(text);
        List<Event> out = new ArrayList<>(2);
        drain(false, out);
        return out;
    }

    /** The generation ended: everything still held becomes final. */
    public List<Event> finish() {
        List<Event> out = new ArrayList<>(2);
        drain(true, out);
        return out;
    }

    /** Calls found so far. */
    public int calls() {
        return calls;
    }

    private void drain(boolean end, List<Event> out) {
        while (true) {
            if (inBlock) {
                if (syntax.close() != null) {
                    int close = buf.indexOf(syntax.close(), scanned); // each piece is searched once, not the whole block again
                    scanned = Math.max(0, buf.length() - syntax.close().length() + 1);
                    if (close >= 0) {
                        complete(buf.substring(0, close), syntax.close(), out);
                        buf.delete(0, close + syntax.close().length());
                        inBlock = false;
                        continue;
                    }
                }
                if (end) { // a block that runs to the end, or one left open (a forced call ends with its JSON)
                    complete(buf.toString(), "", out);
                    buf.setLength(0);
                    inBlock = false;
                }
                return;
            }
            int lead = 0;
            while (lead < buf.length() && Character.isWhitespace(buf.charAt(lead))) lead++;
            if (atStart && syntax.bareStart() != 0 && lead < buf.length() && buf.charAt(lead) == syntax.bareStart()
                    && !couldBeMarker(lead)) {
                opener = buf.substring(0, lead);
                buf.delete(0, lead);
                inBlock = true;
                scanned = 0;
                atStart = false;
                continue;
            }
            int marker = buf.indexOf(syntax.marker());
            if (marker >= 0) {
                int contentEnd = marker;
                while (contentEnd > 0 && Character.isWhitespace(buf.charAt(contentEnd - 1))) contentEnd--;
                content(buf.substring(0, contentEnd), out);
                opener = buf.substring(contentEnd, marker + syntax.marker().length());
                buf.delete(0, marker + syntax.marker().length());
                inBlock = true;
                scanned = 0;
                atStart = false;
                continue;
            }
            if (atStart && !end && couldBeMarker(lead) && buf.length() - lead < syntax.marker().length()) return; // wait: marker or bare call
            if (end) {
                content(buf.toString(), out);
                buf.setLength(0);
                return;
            }
            if (atStart && syntax.bareStart() != 0 && lead == buf.length()) return; // only white space: a call may follow
            int keep = buf.length() - markerPrefixAtEnd();
            while (keep > 0 && Character.isWhitespace(buf.charAt(keep - 1))) keep--;
            if (keep > 0) {
                content(buf.substring(0, keep), out);
                buf.delete(0, keep);
                atStart = false;
            }
            return;
        }
    }

    /** Whether the buffer from {@code at} is the marker or its beginning (Mistral's marker starts like its bare call). */
    private boolean couldBeMarker(int at) {
        String m = syntax.marker();
        int n = Math.min(m.length(), buf.length() - at);
        for (int i = 0; i < n; i++) if (buf.charAt(at + i) != m.charAt(i)) return false;
        return true;
    }

    /** Length of the longest end of the buffer that is a proper beginning of the marker. */
    private int markerPrefixAtEnd() {
        String m = syntax.marker();
        for (int k = Math.min(m.length() - 1, buf.length()); k > 0; k--) {
            if (endsWith(m, k)) return k;
        }
        return 0;
    }

    private boolean endsWith(String m, int k) {
        for (int i = 0, at = buf.length() - k; i < k; i++) if (buf.charAt(at + i) != m.charAt(i)) return false;
        return true;
    }

    private void content(String text, List<Event> out) {
        if (!text.isEmpty()) out.add(new Content(text));
    }

    private void complete(String body, String closer, List<Event> out) {
        List<ToolCall> parsed = parse(body.strip());
        if (parsed == null) {
            content(opener + body + closer, out);
            return;
        }
        for (ToolCall c : parsed) {
            if (calls < maxCalls) out.add(new Call(calls, c));
            calls++;
        }
        if (calls > maxCalls) calls = maxCalls;
    }

    /** The calls in one block (a call object or an array of them), or null when it is not exactly that. */
    List<ToolCall> parse(String body) {
        JsonNode n = TemplateJson.parse(body);
        if (n == null) return null;
        List<ToolCall> out = new ArrayList<>();
        if (n.isArray()) {
            if (n.isEmpty()) return null;
            for (JsonNode e : n) {
                ToolCall c = call(e);
                if (c == null) return null;
                out.add(c);
            }
        } else {
            ToolCall c = call(n);
            if (c == null) return null;
            out.add(c);
        }
        return out;
    }

    private ToolCall call(JsonNode n) {
        if (!n.isObject()) return null;
        if (!n.has("name") && n.path("function").isObject()) n = n.get("function"); // {"type": "function", "function": {...}}
        JsonNode name = n.get("name");
        if (name == null || !name.isTextual() || !names.contains(name.textValue())) return null;
        JsonNode args = n.has("arguments") ? n.get("arguments") : n.get("parameters"); // Llama 3 says "parameters"
        if (args == null || args.isNull()) args = TemplateJson.MAPPER.createObjectNode();
        if (args.isTextual()) args = TemplateJson.parse(args.textValue()); // some models write the arguments as a string
        if (args == null || !args.isObject()) return null;
        return new ToolCall(newId(), name.textValue(), (ObjectNode) args);
    }

    private String newId() {
        var random = ThreadLocalRandom.current();
        int n = syntax.idLength() > 0 ? syntax.idLength() : 24;
        StringBuilder sb = new StringBuilder(syntax.idLength() > 0 ? "" : "call_");
        for (int i = 0; i < n; i++) sb.append(ID_CHARS.charAt(random.nextInt(ID_CHARS.length())));
        return sb.toString();
    }
}
