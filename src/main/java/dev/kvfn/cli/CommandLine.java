package dev.kvfn.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --name value} options of a one-shot command, checked against the names the command knows. */
record CommandLine(Map<String, List<String>> options) {

    static CommandLine parse(String[] args, int from, Set<String> known) {
        Map<String, List<String>> options = new HashMap<>();
        for (int i = from; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) throw new UsageException("unexpected argument '" + a + "'");
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else {
                if (i + 1 >= args.length) throw new UsageException("option --" + name + " needs a value");
                value = args[++i];
            }
            if (!known.contains(name)) throw new UsageException("unknown option --" + name + " (known: --" + String.join(", --", known) + ")");
            options.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return new CommandLine(options);
    }

    String string(String name) {
        List<String> v = options.get(name);
        return v == null ? null : v.getLast();
    }

    List<String> all(String name) {
        return options.getOrDefault(name, List.of());
    }

    Integer integer(String name) {
        String v = string(name);
        if (v == null) return null;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be an integer, got '" + v + "'");
        }
    }

    Long longValue(String name) {
        String v = string(name);
        if (v == null) return null;
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be an integer, got '" + v + "'");
        }
    }

    Float real(String name) {
        String v = string(name);
        if (v == null) return null;
        try {
            return Float.parseFloat(v);
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be a number, got '" + v + "'");
        }
    }

    /** A mistake in the command line: printed with the usage, exit status 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message, null, false, false);
        }
    }
}
