package dev.kvfn.kv.seal;

import dev.kvfn.kv.BlockFormat;
import dev.kvfn.kv.BlockKey;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;

/**
 * AES-256-GCM over one KV block, for one use (a domain: {@code redis}, {@code host}). The associated
 * data binds the ciphertext to everything that decides what the bytes mean — the domain, the model
 * fingerprint, the block layout and the block's own key — so a value copied to another key, another
 * model, another layout or another tier fails its tag like a forged one. Nonces are random (96 bits);
 * the key is derived per domain from the {@link KvSecret}. Thread-safe (a cipher per thread).
 */
public final class BlockSeal {
    public static final int NONCE_BYTES = 12, TAG_BYTES = 16;

    private final SecretKey key;
    private final byte[] context; // the associated data before the block key
    private final long blockBytes;
    private final SecureRandom random = new SecureRandom();
    private final ThreadLocal<Cipher> ciphers = ThreadLocal.withInitial(BlockSeal::newCipher);

    public BlockSeal(KvSecret secret, String domain, byte[] fingerprint, BlockFormat format) {
        this.key = secret.aesKey("kvfn " + domain + " block seal/1");
        this.blockBytes = format.blockBytes();
        var aad = new ByteArrayOutputStream();
        field(aad, 'D', ("kvfn-block-seal/1 " + domain).getBytes(StandardCharsets.UTF_8));
        field(aad, 'F', fingerprint);
        field(aad, 'L', format.layoutId().getBytes(StandardCharsets.UTF_8));
        aad.write('K');
        this.context = aad.toByteArray();
    }

    private static void field(ByteArrayOutputStream out, char tag, byte[] value) {
        out.write(tag);
        out.writeBytes(ByteBuffer.allocate(4).putInt(value.length).array());
        out.writeBytes(value);
    }

    private static Cipher newCipher() {
        try {
            return Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM is missing from this JVM", e);
        }
    }

    /** Plain block bytes. */
    public long blockBytes() {
        return blockBytes;
    }

    /** Draws a fresh nonce into {@code nonce} (12 bytes). */
    public void newNonce(byte[] nonce) {
        random.nextBytes(nonce);
    }

    /**
     * Encrypts the block ({@code plain}'s remaining bytes, exactly {@link #blockBytes()}) into {@code out}:
     * ciphertext then the 16-byte tag.
     */
    public void seal(BlockKey block, byte[] nonce, ByteBuffer plain, ByteBuffer out) {
        if (plain.remaining() != blockBytes) throw new IllegalArgumentException("a block is " + blockBytes + " bytes, got " + plain.remaining());
        try {
            Cipher c = init(Cipher.ENCRYPT_MODE, block, nonce);
            c.doFinal(plain, out);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("sealing a KV block failed", e);
        }
    }

    /**
     * Decrypts and verifies {@code sealed} (ciphertext then tag) into {@code out}; false when it is not what this
     * deployment sealed under {@code block} (forged, damaged, swapped, of another model, layout, tier or secret).
     * On false, {@code out}'s bytes are unspecified and must not be used.
     */
    public boolean open(BlockKey block, byte[] nonce, ByteBuffer sealed, ByteBuffer out) {
        if (sealed.remaining() != blockBytes + TAG_BYTES || out.remaining() < blockBytes) return false;
        try {
            Cipher c = init(Cipher.DECRYPT_MODE, block, nonce);
            return c.doFinal(sealed, out) == blockBytes;
        } catch (AEADBadTagException e) {
            return false;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("opening a KV block failed", e);
        }
    }

    private Cipher init(int mode, BlockKey block, byte[] nonce) throws GeneralSecurityException {
        Cipher c = ciphers.get();
        c.init(mode, key, new GCMParameterSpec(TAG_BYTES * 8, nonce));
        c.updateAAD(context);
        c.updateAAD(block.toBytes());
        return c;
    }
}
