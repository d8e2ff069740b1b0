import CERISupport
import ERICore

#if canImport(Glibc)
import Glibc
#endif

// The C façade: argument checks and error mapping only. Every entry point
// clears the thread's error first, and converts anything thrown into an
// eri_status plus a message, so no Swift error or trap crosses into the host.

func status(_ code: ERIError.Code) -> eri_status { eri_status(rawValue: UInt32(code.rawValue)) }

/// Records `error` as this thread's last error, logs it at ERROR level and returns its status.
func fail(_ error: Error) -> eri_status {
    let (code, message): (eri_status, String)
    if let e = error as? ERIError {
        (code, message) = (status(e.code), e.message)
    } else {
        (code, message) = (ERI_ERR_INTERNAL, "internal error: \(error)")
    }
    liberi_set_last_error(message)
    Log.emit(.error, message)
    return code
}

/// Writes `value` to a caller's versioned struct of `size` bytes (at least
/// the oldest layout this library accepts, checked by the caller): the
/// fields that fit, and `struct_size` = what was written.
func writeVersioned<T>(_ value: T, to pointer: UnsafeMutablePointer<T>, size: UInt32) {
    let n = min(Int(size), MemoryLayout<T>.size)
    withUnsafeBytes(of: value) { UnsafeMutableRawPointer(pointer).copyMemory(from: $0.baseAddress!, byteCount: n) }
    UnsafeMutableRawPointer(pointer).storeBytes(of: UInt32(n), as: UInt32.self)
}

/// The `struct_size` a caller's versioned struct starts with, read on its own:
/// `pointer.pointee.struct_size` may load the whole struct, which an older
/// caller's smaller struct does not have (found by Tests/fuzz/fuzz_api.c).
func structSize<T>(_ pointer: UnsafePointer<T>) -> UInt32 {
    UnsafeRawPointer(pointer).load(as: UInt32.self)
}

/// Reads a caller's versioned struct of `size` bytes (checked by `checkStructSize`):
/// the fields that fit, the rest from `defaults`; never a byte past `size`.
func readVersioned<T>(_ pointer: UnsafePointer<T>, size: UInt32, defaults: T) -> T {
    var value = defaults
    let n = min(Int(size), MemoryLayout<T>.size)
    withUnsafeMutableBytes(of: &value) { $0.baseAddress!.copyMemory(from: UnsafeRawPointer(pointer), byteCount: n) }
    return value
}

func invalid(_ message: String) -> eri_status {
    fail(ERIError.invalidArgument(message))
}

/// Checks a versioned struct's `struct_size` (API.md rule 4): at least the
/// size this library knows. `filled`: an options struct the host filled
/// (`init` names its `*_options_init`), else an output struct the host sized.
/// A struct of the oldest layout (`known` bytes, up to its padding to 8) or
/// of the current one (`current` bytes or more) passes; a size in between
/// would cut a field added since and is refused.
func checkStructSize(_ size: UInt32, atLeast known: UInt32, current: UInt32? = nil, function: String, argument: String,
                     filledBy initialiser: String? = nil, type: String) throws {
    let oldest = size >= known && size <= (known + 7) / 8 * 8
    guard size >= (current ?? known) || oldest else {
        let advice = initialiser.map { "call \($0) first" } ?? "set it to sizeof(\(type))"
        throw ERIError.invalidArgument("\(function): \(argument)->struct_size is \(size); \(advice)")
    }
}

/// Runs `body` with the thread's error cleared; maps what it throws.
/// A `media_path` argument as a String; NULL and "" are invalid arguments of `function`.
func mediaPath(_ path: UnsafePointer<CChar>?, function: String) throws -> String {
    guard let path else { throw ERIError.invalidArgument("\(function): media_path is NULL") }
    guard path.pointee != 0 else { throw ERIError.invalidArgument("\(function): media_path is \"\" (an empty string names no file)") }
    return String(cString: path)
}

/// The `*_close` functions: clear the last error, release the handle (NULL: nothing to do).
func closeHandle<T: AnyObject>(_ handle: OpaquePointer?, as type: T.Type) {
    liberi_set_last_error(nil)
    guard let handle else { return }
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).release()
}

func guarded(_ body: () throws -> eri_status) -> eri_status {
    liberi_set_last_error(nil)
    do { return try body() } catch { return fail(error) }
}

/// C strings that live for the life of the process (version, names, status texts).
final class StaticCStrings: @unchecked Sendable {
    let pointers: [UnsafeMutablePointer<CChar>]
    init(_ strings: [String]) { pointers = strings.map { strdup($0)! } }
    subscript(i: Int) -> UnsafePointer<CChar> { UnsafePointer(pointers[i]) }
}

let versionString = StaticCStrings(["\(ERIVersion.major).\(ERIVersion.minor).\(ERIVersion.patch)"])
let emotionNames = StaticCStrings(ERIConfig.emotionNames)
let statusTexts = StaticCStrings([
    "ok", "invalid argument", "I/O error", "malformed file", "unsupported", "missing modality",
    "decode error", "out of memory", "cancelled", "internal error", "unknown status",
])

@_cdecl("eri_version")
public func eri_version() -> UnsafePointer<CChar> { versionString[0] }

@_cdecl("eri_version_number")
public func eri_version_number() -> UInt32 {
    UInt32(ERIVersion.major * 10000 + ERIVersion.minor * 100 + ERIVersion.patch)
}

@_cdecl("eri_status_string")
public func eri_status_string(_ s: eri_status) -> UnsafePointer<CChar> {
    let i = Int(s.rawValue)
    return statusTexts[i < statusTexts.pointers.count - 1 ? i : statusTexts.pointers.count - 1]
}

@_cdecl("eri_last_error")
public func eri_last_error() -> UnsafePointer<CChar> { liberi_last_error() }

@_cdecl("eri_emotion_name")
public func eri_emotion_name(_ index: Int32) -> UnsafePointer<CChar>? {
    guard index >= 0, Int(index) < ERIConfig.emotionCount else { return nil }
    return emotionNames[Int(index)]
}

@_cdecl("eri_set_log_callback")
public func eri_set_log_callback(_ fn: eri_log_callback?, _ userData: UnsafeMutableRawPointer?) {
    liberi_set_last_error(nil)
    guard let fn else {
        Log.setHandler(nil)
        return
    }
    let context = UInt(bitPattern: userData)  // a plain integer is Sendable
    Log.setHandler { level, message in
        message.withCString { fn(level.rawValue, $0, UnsafeMutableRawPointer(bitPattern: context)) }
    }
}
