package dev.kvfn.model;

import java.nio.file.Path;

/** A model or tokenizer file that cannot be used; the message names the file and the reason. */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(Path file, String reason) {
        super(file + ": " + reason);
    }

    public ModelFormatException(Path file, String reason, Throwable cause) {
        super(file + ": " + reason, cause);
    }
}
