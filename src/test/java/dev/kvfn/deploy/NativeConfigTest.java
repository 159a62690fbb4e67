package dev.kvfn.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvfn.engine.trtllm.TrtllmNative;
import io.quarkus.funqy.Funq;
import io.quarkus.runtime.annotations.RegisterForReflection;
import jakarta.ws.rs.HttpMethod;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.WildcardType;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipFile;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * native-config/ cannot rot: every class, method and field its JSON names exists, every resource glob matches a file
 * the build ships, the FFM downcalls cover {@code ComputePriority}'s, the JavaCPP part is what JavaCPP's Builder writes
 * for today's binding, the build copies it where native-image reads it, and the build arguments are wired through
 * {@code quarkus.native.*}. (No native-image exists on these machines: this is as far as the configuration can be
 * checked without one.)
 */
class NativeConfigTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Path CONFIG = Path.of("native-config");
    static final ClassLoader LOADER = NativeConfigTest.class.getClassLoader();

    static List<Path> jsonFiles() throws IOException {
        try (Stream<Path> files = Files.walk(CONFIG)) {
            return files.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
    }

    @Test
    void everyFileParsesAndIsOfAKindNativeImageReads() throws IOException {
        List<Path> files = jsonFiles();
        assertTrue(files.size() >= 6, "native-config holds the JavaCPP and kvfn metadata: " + files);
        Set<String> kinds = Set.of("jni-config.json", "reflect-config.json", "resource-config.json", "reachability-metadata.json");
        for (Path f : files) {
            assertTrue(kinds.contains(f.getFileName().toString()), f + ": not a file name native-image picks up");
            JSON.readTree(f.toFile()); // throws on invalid JSON
        }
    }

    @Test
    void everyNamedClassMethodAndFieldExists() throws IOException {
        int checked = 0;
        for (Path f : jsonFiles()) {
            JsonNode root = JSON.readTree(f.toFile());
            JsonNode types = f.getFileName().toString().equals("reachability-metadata.json") ? root.path("reflection") : root;
            if (f.getFileName().toString().equals("resource-config.json")) continue;
            for (JsonNode entry : types) {
                String name = entry.has("type") ? entry.path("type").asText() : entry.path("name").asText();
                Class<?> c = load(f, name);
                for (JsonNode m : entry.path("methods")) checkMethod(f, c, m);
                for (JsonNode field : entry.path("fields")) {
                    String fieldName = field.path("name").asText();
                    assertTrue(Arrays.stream(c.getDeclaredFields()).anyMatch(d -> d.getName().equals(fieldName)),
                            f + ": " + name + " has no field " + fieldName);
                }
                checked++;
            }
        }
        assertTrue(checked > 100, "classes checked: " + checked);
    }

    private static Class<?> load(Path file, String name) {
        try {
            return Class.forName(name, false, LOADER);
        } catch (ClassNotFoundException | NoClassDefFoundError e) {
            throw new AssertionError(file + " names " + name + ", which is not on the class path", e);
        }
    }

    private static void checkMethod(Path file, Class<?> c, JsonNode m) {
        String name = m.path("name").asText();
        List<Class<?>> params = new ArrayList<>();
        for (JsonNode p : m.path("parameterTypes")) params.add(parameterType(file, p.asText()));
        Class<?>[] types = params.toArray(Class<?>[]::new);
        try {
            if (name.equals("<init>")) c.getDeclaredConstructor(types);
            else c.getDeclaredMethod(name, types);
        } catch (NoSuchMethodException e) {
            fail(file + ": " + c.getName() + " has no " + name + params);
        }
    }

    private static Class<?> parameterType(Path file, String name) {
        return switch (name) {
            case "int" -> int.class;
            case "long" -> long.class;
            case "float" -> float.class;
            case "double" -> double.class;
            case "boolean" -> boolean.class;
            case "byte" -> byte.class;
            case "short" -> short.class;
            case "char" -> char.class;
            default -> name.endsWith("[]") ? parameterType(file, name.substring(0, name.length() - 2)).arrayType() : load(file, name);
        };
    }

    /** Every class of the TensorRT-LLM binding whose native code JavaCPP generated is registered for JNI. */
    @Test
    void jniConfigCoversTheBinding() throws IOException {
        Set<String> jni = new HashSet<>();
        for (Path f : jsonFiles()) {
            if (!f.getFileName().toString().equals("jni-config.json")) continue;
            for (JsonNode e : JSON.readTree(f.toFile())) jni.add(e.path("name").asText());
        }
        List<Class<?>> binding = new ArrayList<>(List.of(TrtllmNative.class));
        binding.addAll(List.of(TrtllmNative.class.getDeclaredClasses()));
        int withNatives = 0;
        for (Class<?> c : binding) {
            boolean hasNative = Arrays.stream(c.getDeclaredMethods()).anyMatch(m -> Modifier.isNative(m.getModifiers()));
            if (!hasNative) continue;
            withNatives++;
            assertTrue(jni.contains(c.getName()), c.getName() + " has native methods but is not in a jni-config.json");
        }
        assertTrue(withNatives >= 5, "binding classes with native methods: " + withNatives);
        assertTrue(jni.contains("org.bytedeco.javacpp.Pointer") && jni.contains("org.bytedeco.javacpp.Loader"),
                "JavaCPP's runtime classes its JNI code calls back into");
    }

    /** The kvfn resource globs each match something the build ships (class path: target/classes and the jars). */
    @Test
    void resourceGlobsMatchShippedFiles() throws IOException {
        JsonNode kvfn = JSON.readTree(CONFIG.resolve("kvfn/reachability-metadata.json").toFile());
        List<String> entries = classPathEntries();
        assertFalse(kvfn.path("resources").isEmpty(), "resources");
        for (JsonNode r : kvfn.path("resources")) {
            String glob = r.path("glob").asText();
            PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + glob);
            assertTrue(entries.stream().anyMatch(e -> matcher.matches(Path.of(e))), "no shipped resource matches " + glob);
        }
    }

    /** Resource names on the main class path: target/classes and the dependency jars (not test-classes). */
    private static List<String> classPathEntries() throws IOException {
        List<String> names = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path p = Path.of(entry);
            if (p.toString().contains("test-classes")) continue;
            if (Files.isDirectory(p)) {
                try (Stream<Path> files = Files.walk(p)) {
                    files.filter(Files::isRegularFile).forEach(f -> names.add(p.relativize(f).toString()));
                }
            } else if (p.toString().endsWith(".jar") && Files.isRegularFile(p)) {
                try (ZipFile zip = new ZipFile(p.toFile())) {
                    zip.stream().forEach(z -> names.add(z.getName()));
                }
            }
        }
        return names;
    }

    /** The downcalls registered cover ComputePriority's (gettid, setpriority) and BlockMemory's (mmap, munmap). */
    @Test
    void foreignDowncallsCoverTheCallsKvfnMakes() throws IOException {
        JsonNode downcalls = JSON.readTree(CONFIG.resolve("kvfn/reachability-metadata.json").toFile()).path("foreign").path("downcalls");
        var canonical = Linker.nativeLinker().canonicalLayouts();
        Set<FunctionDescriptor> registered = new HashSet<>();
        for (JsonNode d : downcalls) {
            MemoryLayout ret = canonical.get(d.path("returnType").asText());
            assertTrue(ret != null, "not a canonical layout: " + d.path("returnType"));
            List<MemoryLayout> params = new ArrayList<>();
            for (JsonNode p : d.path("parameterTypes")) {
                MemoryLayout l = canonical.get(p.asText());
                assertTrue(l != null, "not a canonical layout: " + p);
                params.add(l);
            }
            registered.add(FunctionDescriptor.of(ret, params.toArray(MemoryLayout[]::new)));
        }
        // the descriptors src/main/java/dev/kvfn/engine/cpu/kernel/ComputePriority.java builds
        assertTrue(registered.contains(FunctionDescriptor.of(JAVA_INT)), "gettid: " + registered);
        assertTrue(registered.contains(FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT)), "setpriority: " + registered);
        // and the ones src/main/java/dev/kvfn/kv/BlockMemory.java builds
        assertTrue(registered.contains(FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG)),
                "mmap: " + registered);
        assertTrue(registered.contains(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG)), "munmap: " + registered);
    }

    /**
     * native-config/javacpp is exactly what JavaCPP's Builder writes ({@code -configdir}) for today's binding, so a change
     * to {@code TrtllmNative} that changes what its JNI code touches fails here until the files are regenerated.
     */
    @Test
    void javacppConfigIsWhatTheBuilderWrites() throws Exception {
        Path out = Files.createTempDirectory("kvfn-javacpp-config");
        String javacppJar = Arrays.stream(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
                .filter(e -> e.contains("org/bytedeco/javacpp/") && e.endsWith(".jar")).findFirst().orElseThrow();
        Path classes = Path.of("target", "classes").toAbsolutePath();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-cp", javacppJar, "org.bytedeco.javacpp.tools.Builder", "-classpath", classes.toString(),
                "-Dplatform.includepath=" + Path.of("src", "main", "cpp").toAbsolutePath(), "-nocompile",
                "-d", out.resolve("cpp").toString(), "-configdir", out.resolve("config").toString(), TrtllmNative.class.getName())
                .redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the Builder did not finish");
        assertEquals(0, p.exitValue(), log);
        assertEquals(contents(out.resolve("config")), contents(CONFIG.resolve("javacpp")),
                "native-config/javacpp is stale: regenerate it with the command in native-config/README.md");
    }

    private static TreeMap<String, String> contents(Path dir) throws IOException {
        TreeMap<String, String> files = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path f : walk.filter(Files::isRegularFile).toList()) files.put(dir.relativize(f).toString(), Files.readString(f));
        }
        return files;
    }

    /** The build copies native-config/ to META-INF/native-image/ (where native-image reads it, in a container build too). */
    @Test
    void buildCopiesTheConfigWhereNativeImageReadsIt() throws IOException {
        Path target = Path.of("target", "classes", "META-INF", "native-image", "dev.kvfn");
        for (Path f : jsonFiles()) {
            Path copy = target.resolve(CONFIG.relativize(f).toString());
            assertTrue(Files.isRegularFile(copy), "not copied: " + copy);
            assertEquals(Files.readString(f), Files.readString(copy), copy + " differs from " + f);
        }
    }

    /** The native build arguments travel through quarkus.native.additional-build-args. */
    @Test
    void buildArgumentsAreWired() throws IOException {
        Properties app = new Properties();
        try (var in = Files.newInputStream(Path.of("src", "main", "resources", "application.properties"))) {
            app.load(in);
        }
        List<String> args = Arrays.stream(app.getProperty("quarkus.native.additional-build-args", "").split(","))
                .map(String::strip).toList();
        for (String needed : List.of("--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-H:+UnlockExperimentalVMOptions", "-H:+VectorAPISupport", "-H:+ForeignAPISupport")) {
            assertTrue(args.contains(needed), "quarkus.native.additional-build-args lacks " + needed + ": " + args);
        }
        assertTrue(args.indexOf("-H:+UnlockExperimentalVMOptions") < args.indexOf("-H:+VectorAPISupport"),
                "experimental options come after the unlock");
    }

    /**
     * Jackson reads a record's components reflectively, and a native image answers that only for registered classes.
     * Quarkus registers what REST resource methods and Funqy functions declare (and the records inside those); a
     * record of the function layer that Jackson writes any other way — inside a map, through an ObjectMapper call of
     * kvfn's own — must carry {@code @RegisterForReflection}. Every record there is one of the two, or named below as
     * one Jackson never sees.
     */
    @Test
    void everyFunctionRecordJacksonMayWriteIsRegistered() throws Exception {
        Set<String> neverWritten = Set.of(
                "dev.kvfn.function.GenerationRequests$Style", // how a request names its knobs
                "dev.kvfn.function.GenerationRequests$Knobs", // a request's knobs, read from its fields
                "dev.kvfn.function.openai.ToolCalls$Reply");  // taken apart into the response's maps
        Path classes = Path.of("target", "classes");
        List<Class<?>> records = new ArrayList<>();
        Set<Class<?>> declared = new HashSet<>();
        try (Stream<Path> files = Files.walk(classes.resolve("dev/kvfn/function"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                String name = classes.relativize(f).toString().replace('/', '.').replaceAll("\\.class$", "");
                Class<?> c = Class.forName(name, false, getClass().getClassLoader());
                if (c.isRecord()) records.add(c);
                for (Method m : c.getDeclaredMethods()) {
                    if (!m.isAnnotationPresent(Funq.class) && Arrays.stream(m.getAnnotations())
                            .noneMatch(a -> a.annotationType().isAnnotationPresent(HttpMethod.class))) continue;
                    collect(m.getGenericReturnType(), declared);
                    for (Type t : m.getGenericParameterTypes()) collect(t, declared);
                }
            }
        }
        assertFalse(records.isEmpty(), "no records found under " + classes);
        List<String> unregistered = records.stream()
                .filter(r -> !declared.contains(r) && !r.isAnnotationPresent(RegisterForReflection.class)
                        && !neverWritten.contains(r.getName()))
                .map(Class::getName).sorted().toList();
        assertTrue(unregistered.isEmpty(), "records Jackson may write that a native image cannot read: " + unregistered
                + " (annotate them @RegisterForReflection, or name them here if Jackson never sees them)");
        for (String name : neverWritten) Class.forName(name, false, getClass().getClassLoader()); // the list stays current
    }

    /** {@code type}, its type arguments, array components and record components, into {@code into}. */
    private static void collect(Type type, Set<Class<?>> into) {
        switch (type) {
            case Class<?> c when c.isArray() -> collect(c.getComponentType(), into);
            case Class<?> c -> {
                if (into.add(c) && c.isRecord()) {
                    for (RecordComponent rc : c.getRecordComponents()) collect(rc.getGenericType(), into);
                }
            }
            case ParameterizedType p -> {
                collect(p.getRawType(), into);
                for (Type a : p.getActualTypeArguments()) collect(a, into);
            }
            case GenericArrayType g -> collect(g.getGenericComponentType(), into);
            case WildcardType w -> {
                for (Type u : w.getUpperBounds()) collect(u, into);
            }
            default -> { } // type variables: nothing Quarkus could register either
        }
    }
}
