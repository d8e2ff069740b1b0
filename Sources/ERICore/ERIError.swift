/// The error every liberi module throws. `code` maps one-to-one onto the C
/// API's `eri_status` (include/eri.h); `message` is what `eri_last_error()`
/// returns, so it should name the offending file, tensor or argument.
public struct ERIError: Error, CustomStringConvertible, Equatable {
    public enum Code: Int32, Sendable {
        case invalidArgument = 1
        case io = 2
        case format = 3
        case unsupported = 4
        case missingModality = 5
        case decode = 6
        case outOfMemory = 7
        case cancelled = 8
        case `internal` = 9
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func invalidArgument(_ m: String) -> ERIError { ERIError(.invalidArgument, m) }
    public static func io(_ m: String) -> ERIError { ERIError(.io, m) }
    public static func format(_ m: String) -> ERIError { ERIError(.format, m) }
    public static func unsupported(_ m: String) -> ERIError { ERIError(.unsupported, m) }
}
