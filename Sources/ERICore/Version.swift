/// liberi's version; include/eri.h's ERI_VERSION_* macros must agree (a test checks).
public enum ERIVersion {
    public static let major = 0
    public static let minor = 2
    public static let patch = 0
}
