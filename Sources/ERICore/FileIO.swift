#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A read-only memory map of a whole regular file. Model files are mapped, not
/// read, so opening a model costs no copy of the bytes it does not convert.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?

    /// The mapped bytes; empty for an empty file.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Refuses anything but a regular file before it could block: the open is
    /// non-blocking (a FIFO without a writer would otherwise wait forever)
    /// and the type is checked on the open descriptor.
    public init(path: String) throws {
        self.path = path
        guard !path.isEmpty else { throw ERIError.io("the file path is empty: it names no file") }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw MappedFile.openError(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ERIError.io("\(path): cannot stat: \(MappedFile.describe(errno))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let kind = info.st_mode & S_IFMT
            let what = kind == S_IFDIR ? "is a directory" : kind == S_IFIFO ? "is a FIFO, not a regular file"
                     : kind == S_IFCHR || kind == S_IFBLK ? "is a device, not a regular file" : "is not a regular file"
            throw ERIError.io("\(path): \(what)")
        }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw ERIError.io("\(path): cannot map: \(MappedFile.describe(errno))") }
        base = p
    }

    deinit {
        if let base { munmap(base, count) }
    }

    static func openError(path: String, errno code: Int32) -> ERIError {
        switch code {
        case ENOENT: return .io("\(path): no such file")
        case EACCES: return .io("\(path): permission denied")
        case EISDIR: return .io("\(path): is a directory")
        default: return .io("\(path): cannot open: \(describe(code))")
        }
    }

    public static func describe(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "error \(code)" }
        return String(cString: s)
    }
}

/// Writes `chunks` to `path` atomically: a temporary file in the same folder,
/// flushed and then renamed over the target, so a crash never leaves a
/// half-written model or checkpoint under the real name.
public func writeFileAtomically(path: String, chunks: [UnsafeRawBufferPointer]) throws {
    // Renaming over a device or a folder would replace it (as root, even /dev/null): refuse.
    var existing = stat()
    if lstat(path, &existing) == 0 && (existing.st_mode & S_IFMT) != S_IFREG {
        throw ERIError.io("\(path): exists and is not a regular file; liberi only replaces regular files")
    }
    let temporary = "\(path).tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ERIError.io("\(path): cannot create: \(MappedFile.describe(errno))") }
    var ok = false
    defer {
        if !ok { unlink(temporary) }
    }
    do {
        defer { close(fd) }
        for chunk in chunks {
            var offset = 0
            while offset < chunk.count {
                let n = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ERIError.io("\(path): write failed: \(MappedFile.describe(errno))")
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw ERIError.io("\(path): fsync failed: \(MappedFile.describe(errno))") }
    }
    guard rename(temporary, path) == 0 else {
        throw ERIError.io("\(path): cannot rename into place: \(MappedFile.describe(errno))")
    }
    ok = true
}

/// Calls `body` with each line of the text file at `path` (its newline kept)
/// until `body` returns a value; returns that value, or nil at the end of the
/// file or when it cannot be opened. Without Foundation: for /proc files.
public func firstLine<T>(ofFile path: String, where body: (String) -> T?) -> T? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, f) > 0 {
        if let found = body(String(cString: line!)) { return found }
    }
    return nil
}
