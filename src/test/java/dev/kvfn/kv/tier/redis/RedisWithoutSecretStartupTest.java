package dev.kvfn.kv.tier.redis;

import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.junit.main.Launch;
import io.quarkus.test.junit.main.LaunchResult;
import io.quarkus.test.junit.main.QuarkusMainTest;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Redis holding block bytes without {@code kvfn.kv.secret}: start-up stops with one line saying what to set. */
@QuarkusMainTest
@TestProfile(RedisWithoutSecretStartupTest.NoSecret.class)
class RedisWithoutSecretStartupTest {
    public static class NoSecret implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            // never reached: the refusal comes before any connection
            return Map.of("quarkus.redis.hosts", "redis://127.0.0.1:1");
        }
    }

    @Test
    @Launch(value = {"generate", "--prompt", "hi"}, exitCode = 1)
    void sharingBytesWithoutASecretIsRefused(LaunchResult result) {
        String err = result.getErrorOutput();
        assertTrue(err.contains("kvfn cannot start: kvfn.kv.redis.store-bytes=true shares KV bytes"), err);
        assertEquals(1, err.lines().filter(l -> l.contains("set kvfn.kv.secret")).count(), err);
        assertTrue(err.lines().noneMatch(l -> l.startsWith("\tat ")), "no stack trace expected:\n" + err);
    }
}
