// The few file-system operations the corpus writer needs, on Glibc (no
// Foundation in the library): create a folder and its parents, tell a corpus
// folder from any other, list a folder, write a small text file.

import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum Files {
    /// What is at `path` (`stat` follows symbolic links).
    enum Kind { case missing, directory, other }

    static func kind(_ path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        return (info.st_mode & S_IFMT) == S_IFDIR ? .directory : .other
    }

    static func join(_ parts: String...) -> String {
        var result = ""
        for part in parts where !part.isEmpty {
            if result.isEmpty || result.hasSuffix("/") {
                result += part
            } else {
                result += "/" + part
            }
        }
        return result
    }

    /// `mkdir -p`: creates `path` and any missing parent. Throws .io naming
    /// the folder that could not be made and why.
    static func createDirectory(_ path: String) throws {
        if kind(path) == .directory { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                if code != EEXIST {
                    throw ERIError(.io, "\(prefix): cannot create the folder: \(MappedFile.describe(code))")
                }
                if kind(prefix) != .directory {
                    throw ERIError(.io, "\(prefix): exists and is not a folder")
                }
            }
            prefix += "/"
        }
    }

    /// The names in a folder, without "." and "..". Throws .io when it cannot be read.
    static func entries(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else {
            throw ERIError(.io, "\(path): cannot read the folder: \(MappedFile.describe(errno))")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes `text` to `path` (atomically: a crash never leaves half a file).
    static func writeText(_ text: String, to path: String) throws {
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBytes { try writeFileAtomically(path: path, chunks: [$0]) }
    }

    /// Removes a file this module wrote; a missing file is not an error.
    static func remove(_ path: String) {
        _ = unlink(path)
    }
}
