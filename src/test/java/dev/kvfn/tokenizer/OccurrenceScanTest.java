package dev.kvfn.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link OccurrenceScan} against {@code String.contains} for each string. */
class OccurrenceScanTest {

    @Test
    void findsExactlyTheStringsThatOccur() {
        SplittableRandom random = new SplittableRandom(3);
        for (int set = 0; set < 300; set++) {
            // a tiny alphabet, so strings are prefixes and suffixes of each other and occurrences overlap; now and
            // then a character outside Latin-1 and half of a surrogate pair
            String alphabet = set % 4 == 0 ? "ab<|>\u00e9\u4e2d\ud83d" : "ab";
            List<String> strings = new ArrayList<>();
            for (int s = 1 + random.nextInt(12); s > 0; s--) strings.add(randomString(random, alphabet, 1 + random.nextInt(6)));
            if (random.nextBoolean()) strings.add(strings.get(0)); // a repeat
            OccurrenceScan scan = new OccurrenceScan(strings);
            for (int t = 0; t < 20; t++) {
                String text = randomString(random, alphabet, random.nextInt(40));
                boolean[] expected = new boolean[strings.size()];
                for (int s = 0; s < expected.length; s++) expected[s] = text.contains(strings.get(s));
                assertArrayEquals(expected, scan.occurring(text), strings + " in '" + text + "'");
            }
        }
    }

    @Test
    void llama3StyleTokensInCodeLikeText() {
        List<String> strings = new ArrayList<>(List.of("<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>"));
        for (int i = 0; i < 250; i++) strings.add("<|reserved_special_token_" + i + "|>");
        OccurrenceScan scan = new OccurrenceScan(strings);
        String text = "a <| b <|reserved_special_token_12|><|reserved_special_token_1 <|eot_id|x <|eot_id|>";
        boolean[] expected = new boolean[strings.size()];
        for (int s = 0; s < expected.length; s++) expected[s] = text.contains(strings.get(s));
        assertArrayEquals(expected, scan.occurring(text));
    }

    @Test
    void anEmptyStringIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new OccurrenceScan(List.of("a", "")));
    }

    private static String randomString(SplittableRandom random, String alphabet, int length) {
        StringBuilder s = new StringBuilder(length);
        for (int i = 0; i < length; i++) s.append(alphabet.charAt(random.nextInt(alphabet.length())));
        return s.toString();
    }
}
