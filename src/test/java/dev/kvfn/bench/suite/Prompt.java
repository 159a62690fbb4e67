package dev.kvfn.bench.suite;

import dev.kvfn.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/**
 * One prompt as every engine takes it: token ids (BOS first) for the engines that take ids, and a text that the
 * model's tokenizer turns into exactly those ids for the served engine (which takes text).
 */
record Prompt(int[] tokens, String text) {

    private static final Pattern WORD = Pattern.compile(" [a-z]{2,12}");

    /**
     * A prompt of {@code length} tokens (BOS included) of random whole-word pieces of the vocabulary, joined by
     * spaces: the text encodes to exactly the returned ids. Fresh words every call, so no engine finds it cached.
     */
    static Prompt words(Tokenizer tokenizer, List<String> words, SplittableRandom rnd, int length) {
        List<String> picked = new ArrayList<>();
        for (int i = 0; i < length - 1; i++) picked.add(words.get(rnd.nextInt(words.size())));
        for (int attempt = 0; attempt < 32; attempt++) {
            String text = String.join("", picked).substring(1); // the tokenizer adds the first word's space itself
            int[] ids = tokenizer.encode(text);
            int missing = length - ids.length;
            if (missing == 0) return new Prompt(ids, text);
            if (missing > 0) {
                for (int i = 0; i < missing; i++) picked.add(words.get(rnd.nextInt(words.size())));
            } else {
                for (int i = 0; i < -missing && picked.size() > 1; i++) picked.removeLast();
            }
        }
        throw new IllegalStateException("no " + length + "-token prompt of whole words found for this vocabulary");
    }

    /** The vocabulary's pieces that are one lowercase word after a space (SentencePiece "▁the", BPE "Ġthe"). */
    static List<String> wordPieces(Tokenizer tokenizer) {
        List<String> words = new ArrayList<>();
        for (int t = 0; t < tokenizer.vocabSize(); t++) {
            String s = new String(tokenizer.tokenBytes(t), StandardCharsets.UTF_8);
            if (WORD.matcher(s).matches()) words.add(s);
        }
        if (words.size() < 10) throw new IllegalStateException("the vocabulary has only " + words.size() + " whole-word pieces");
        return words;
    }

    /** Random ids after a BOS (for prompts no engine needs as text). */
    static int[] randomIds(SplittableRandom rnd, int bos, int vocab, int length) {
        int[] p = new int[length];
        p[0] = bos;
        for (int i = 1; i < length; i++) p[i] = 3 + rnd.nextInt(vocab - 3);
        return p;
    }

    int length() {
        return tokens.length;
    }
}
