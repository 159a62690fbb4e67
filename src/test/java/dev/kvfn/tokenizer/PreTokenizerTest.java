package dev.kvfn.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The BPE pre-tokenizers split text without losing any of it, with the regex semantics llama.cpp has. */
class PreTokenizerTest {
    static final String TEXT = "Hello, World! It's 12345 apples\u3000and 🦙s.\n\n   \tend  ";

    @Test
    void everySupportedNameCompilesAndCoversTheText() {
        for (String name : PreTokenizer.supportedNames()) {
            List<String> words = PreTokenizer.forName(name).split(TEXT);
            assertEquals(TEXT, String.join("", words), name + " must neither drop nor repeat text");
            assertTrue(words.stream().noneMatch(String::isEmpty), name + " produced an empty word");
            assertTrue(words.size() > 5, name + " split into only " + words);
        }
    }

    @Test
    void gpt2LeavesOneSpaceForTheNextWord() {
        assertEquals(List.of("Hello", ",", " World", "!", "  ", " x", "\t\n"), PreTokenizer.forName("gpt-2").split("Hello, World!   x\t\n"));
    }

    @Test
    void llama3GroupsDigitsByThreeAndMatchesContractionsInAnyCase() {
        assertEquals(List.of("I", "'M", " ", "123", "45"), PreTokenizer.forName("llama-bpe").split("I'M 12345"));
    }

    @Test
    void unknownNameIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PreTokenizer.forName("no-such-pre"));
        assertTrue(e.getMessage().contains("no-such-pre"), e.getMessage());
    }
}
