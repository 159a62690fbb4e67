package dev.kvfn.engine.structured;

import dev.kvfn.model.GgufFile;
import dev.kvfn.tokenizer.Tokenizer;
import dev.kvfn.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Token masks against the byte grammar they come from, on real vocabularies (stories260K's 512 SentencePiece
 * tokens with byte fallback, llama.cpp's 32000-token Llama vocabulary and GPT-2's byte-level BPE): along random
 * walks, every token is allowed exactly when the text so far plus its bytes is still a prefix of the grammar,
 * end-of-generation exactly when the text is complete, and what the walk writes is valid JSON.
 */
class TokenConstraintTest {

    static Tokenizer tokenizer(String file) {
        String dir = System.getProperty("kvfn.shared.models");
        Assumptions.assumeTrue(dir != null, "system property kvfn.shared.models is not set");
        Path p = Path.of(dir).resolve(file);
        Assumptions.assumeTrue(Files.isRegularFile(p), p + " is absent");
        try (GgufFile gguf = GgufFile.open(p)) {
            return Tokenizers.fromGguf(gguf);
        }
    }

    /** Random walks over allowed tokens; at each step the whole mask is checked token by token against the grammar. */
    static void walks(Tokenizer tok, String schema, int walks, int steps, int seed) {
        Grammar g = JsonSchemaGrammar.compile(schema);
        TokenConstraint c = TokenConstraint.of(g, tok);
        SplittableRandom rnd = new SplittableRandom(seed);
        int vocab = tok.vocabSize();
        for (int w = 0; w < walks; w++) {
            ConstraintCursor cursor = c.start();
            ByteArrayOutputStream text = new ByteArrayOutputStream();
            for (int step = 0; step < steps; step++) {
                ParseState here = ParseState.start(g).advance(text.toByteArray());
                float[] logits = new float[vocab];
                cursor.mask(logits);
                int allowed = 0;
                for (int t = 0; t < vocab; t++) {
                    boolean expected = tok.isEndOfGeneration(t) ? here.accepting()
                            : tok.tokenBytes(t).length > 0 && !here.advance(tok.tokenBytes(t)).isDead();
                    assertEquals(expected, logits[t] == 0f, "token " + t + " '" + tok.piece(t) + "' after '" + text + "'");
                    if (expected) allowed++;
                }
                assertTrue(allowed > 0, "something is always allowed");
                // prefer ending or closing now and then so walks finish
                int pick;
                do pick = rnd.nextInt(vocab); while (logits[pick] != 0f);
                if (here.accepting() && rnd.nextInt(3) == 0) pick = firstEnd(tok);
                if (tok.isEndOfGeneration(pick)) {
                    cursor.advance(pick);
                    break;
                }
                cursor.advance(pick);
                text.writeBytes(tok.tokenBytes(pick));
            }
            String out = text.toString(java.nio.charset.StandardCharsets.UTF_8);
            if (cursor.complete()) assertEquals(java.util.List.of(), SchemaCheck.problems(schema, out));
            else assertTrue(Grammars.acceptsPrefix(g, out), out);
        }
    }

    static int tokenWriting(Tokenizer tok, String text) {
        for (int t = 0; t < tok.vocabSize(); t++) if (Arrays.equals(tok.tokenBytes(t), text.getBytes())) return t;
        throw new AssertionError("no token writes " + text);
    }

    static int firstEnd(Tokenizer tok) {
        for (int t = 0; t < tok.vocabSize(); t++) if (tok.isEndOfGeneration(t)) return t;
        throw new AssertionError("no end-of-generation token");
    }

    @Test
    void storiesMasksMatchTheGrammar() {
        Tokenizer tok = tokenizer("stories260K.gguf");
        for (int i = 0; i < SchemaCheck.SCHEMAS.size(); i++) walks(tok, SchemaCheck.SCHEMAS.get(i), 6, 400, i);
    }

    @Test
    void llamaAndGpt2VocabulariesMasksMatchTheGrammar() {
        walks(tokenizer("llama.cpp-vocab/ggml-vocab-llama-spm.gguf"), SchemaCheck.SCHEMAS.get(0), 1, 30, 1);
        walks(tokenizer("llama.cpp-vocab/ggml-vocab-gpt-2.gguf"), SchemaCheck.SCHEMAS.get(3), 1, 30, 2);
    }

    @Test
    void aTokenThatDoesNotFitIsRefusedAndEndComesOnlyWhenComplete() {
        Tokenizer tok = tokenizer("stories260K.gguf");
        TokenConstraint c = StructuredOutput.jsonSchema(SchemaCheck.parse("{\"type\":\"boolean\"}"), tok);
        ConstraintCursor cursor = c.start();
        int eos = tok.eos(), brace = tokenWriting(tok, "{");
        assertEquals(Float.NEGATIVE_INFINITY, masked(cursor, tok)[eos]);
        assertThrows(IllegalArgumentException.class, () -> cursor.advance(eos));
        for (int x : tok.encode("true", false, false)) cursor.advance(x);
        assertTrue(cursor.complete());
        float[] logits = masked(cursor, tok);
        assertEquals(0f, logits[eos]);
        assertEquals(Float.NEGATIVE_INFINITY, logits[brace]);
        assertEquals(Float.NEGATIVE_INFINITY, logits[tok.vocabSize()], "ids past the tokenizer's vocabulary are never allowed");
        assertEquals(Float.NEGATIVE_INFINITY, logits[tok.vocabSize() + 7]);
        assertThrows(IllegalArgumentException.class, () -> cursor.advance(brace));
        cursor.advance(eos);
        assertThrows(IllegalStateException.class, () -> cursor.mask(new float[tok.vocabSize()]), "nothing follows the end");
    }

    /** The cursor's mask over zero logits for a model vocabulary 8 larger than the tokenizer's. */
    static float[] masked(ConstraintCursor cursor, Tokenizer tok) {
        float[] logits = new float[tok.vocabSize() + 8];
        cursor.mask(logits);
        return logits;
    }
}
