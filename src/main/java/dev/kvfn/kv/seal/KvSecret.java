package dev.kvfn.kv.seal;

import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Arrays;

/**
 * The deployment's KV secret ({@code kvfn.kv.secret}): the one input from which every key that
 * protects KV bytes is derived, with HKDF-SHA256 (RFC 5869) and a distinct label per use, so the
 * Redis tier and the host store never share a key. Holds only the extracted pseudo-random key.
 */
public final class KvSecret {
    /** Fewer bytes than this is a password, not a key. */
    public static final int MIN_BYTES = 16;
    private static final byte[] SALT = "kvfn-kv-secret/1".getBytes(StandardCharsets.US_ASCII);

    private final byte[] prk;

    private KvSecret(byte[] prk) {
        this.prk = prk;
    }

    /** @throws IllegalArgumentException when the secret is shorter than {@value #MIN_BYTES} UTF-8 bytes */
    public static KvSecret of(String secret) {
        byte[] ikm = secret == null ? new byte[0] : secret.strip().getBytes(StandardCharsets.UTF_8);
        if (ikm.length < MIN_BYTES) {
            throw new IllegalArgumentException("kvfn.kv.secret must be at least " + MIN_BYTES + " bytes (e.g. `openssl rand -base64 32`), got "
                    + ikm.length);
        }
        if (secret.contains("CHANGE-ME")) {
            throw new IllegalArgumentException("kvfn.kv.secret is still the placeholder of deploy/kv-secret.yaml: set your own"
                    + " (`openssl rand -base64 32`)");
        }
        try {
            byte[] prk = hmac(SALT, ikm);
            Arrays.fill(ikm, (byte) 0);
            return new KvSecret(prk);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JVM", e);
        }
    }

    /** A 256-bit AES key for one use (HKDF-Expand with {@code label} as info; one output block is 32 bytes). */
    public SecretKey aesKey(String label) {
        try {
            byte[] info = label.getBytes(StandardCharsets.UTF_8);
            byte[] t = Arrays.copyOf(info, info.length + 1);
            t[info.length] = 1;
            return new SecretKeySpec(hmac(prk, t), "AES");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JVM", e);
        }
    }

    private static byte[] hmac(byte[] key, byte[] data) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data);
    }

    @Override
    public String toString() {
        return "KvSecret[redacted]";
    }
}
