package ai.axolotl.hub;

/** A Hub repository kind: its cache folder prefix and its URL prefixes. */
public enum RepoType {
    /** A model repository ({@code models--org--name}, {@code /api/models/}, {@code /org/name/resolve/}). */
    MODEL("models", "models", ""),
    /** A dataset repository ({@code datasets--org--name}, {@code /api/datasets/}, {@code /datasets/org/name/resolve/}). */
    DATASET("datasets", "datasets", "datasets/");

    final String cachePrefix;
    final String apiSegment;
    final String resolvePrefix;

    RepoType(String cachePrefix, String apiSegment, String resolvePrefix) {
        this.cachePrefix = cachePrefix;
        this.apiSegment = apiSegment;
        this.resolvePrefix = resolvePrefix;
    }
}
