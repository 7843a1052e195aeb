package ai.axolotl.runtime;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** JavaCPP's cache is chosen per libtorch bindings version unless the user chose one. */
class NativesCacheTest {
    private String saved;

    @BeforeEach
    void save() {
        saved = System.getProperty(Natives.CACHE_DIR_PROPERTY);
    }

    @AfterEach
    void restore() {
        if (saved == null) {
            System.clearProperty(Natives.CACHE_DIR_PROPERTY);
        } else {
            System.setProperty(Natives.CACHE_DIR_PROPERTY, saved);
        }
    }

    @Test
    void withoutAUserChoiceTheCacheIsPerBindingsVersion() {
        System.clearProperty(Natives.CACHE_DIR_PROPERTY);
        Natives.useCachePerLibtorchVersion();
        assertThat(Provenance.bindingsVersion()).matches("\\d+\\.\\d+\\.\\d+-\\d+\\.\\d+\\.\\d+");
        assertThat(System.getProperty(Natives.CACHE_DIR_PROPERTY))
                .endsWith("/.javacpp/cache/pytorch-" + Provenance.bindingsVersion());
    }

    @Test
    void aUserChoiceIsKept() {
        System.setProperty(Natives.CACHE_DIR_PROPERTY, "/somewhere/else");
        Natives.useCachePerLibtorchVersion();
        assertThat(System.getProperty(Natives.CACHE_DIR_PROPERTY)).isEqualTo("/somewhere/else");
    }
}
