package dev.kvfn.model;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * Why a file operation failed, in errno's words. Java's file-system exceptions for the common errors
 * (EACCES, ENOENT, ...) carry only the path as their message, so a refusal to start would say
 * "cannot open /dev/shm/kvfn: /dev/shm/kvfn" without the reason.
 */
public final class FileErrors {
    private FileErrors() {}

    /** {@code path[ -> other]: reason} for a file-system error, else the exception's own message (or its class). */
    public static String describe(IOException e) {
        if (e instanceof FileSystemException fs) {
            String reason = fs.getReason() != null ? fs.getReason() : switch (fs) {
                case AccessDeniedException x -> "Permission denied";
                case NoSuchFileException x -> "No such file or directory";
                case FileAlreadyExistsException x -> "File exists";
                case NotDirectoryException x -> "Not a directory";
                case DirectoryNotEmptyException x -> "Directory not empty";
                case FileSystemLoopException x -> "Too many levels of symbolic links";
                default -> fs.getClass().getSimpleName();
            };
            String where = fs.getFile() == null ? "" : fs.getFile() + (fs.getOtherFile() == null ? "" : " -> " + fs.getOtherFile()) + ": ";
            return where + reason;
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
