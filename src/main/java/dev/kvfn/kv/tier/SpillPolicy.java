package dev.kvfn.kv.tier;

import java.util.Locale;

/** When a full block's bytes leave the engine's pool for the tiers below. */
public enum SpillPolicy {
    /** Every full block as soon as it is computed: a replica killed without warning loses at most what was queued. */
    WRITE_THROUGH,
    /** Only blocks the pool evicts: less copying, but a crash loses what was still only in the pool. */
    ON_EVICT;

    public static SpillPolicy parse(String s) {
        if (s != null) {
            switch (s.strip().toLowerCase(Locale.ROOT)) {
                case "write-through": return WRITE_THROUGH;
                case "on-evict": return ON_EVICT;
                default: break;
            }
        }
        throw new IllegalArgumentException("unknown kvfn.kv.host-store.policy '" + s + "': use write-through or on-evict");
    }

    /** The config spelling. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
