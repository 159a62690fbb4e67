package dev.kvfn.engine.cpu;

import java.nio.file.Path;

/** Test fixtures of this package for tests elsewhere (the model files and the story prompt). */
public final class PagedEngineTestAccess {
    private PagedEngineTestAccess() {}

    public static final String STORY = PagedEngineTest.STORY;

    public static Path storiesBin() { return SharedModels.file("stories260K.bin"); }

    public static Path tok512() { return SharedModels.file("tok512.bin"); }
}
