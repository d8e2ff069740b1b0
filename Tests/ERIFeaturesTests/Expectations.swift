import Testing
import ERICore

/// Expects `body` to throw `ERIError` with code `.invalidArgument` (and not to crash).
func expectInvalidArgument(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what): no error, expected invalidArgument", sourceLocation: sourceLocation)
    } catch let error as ERIError {
        #expect(error.code == .invalidArgument, "\(what): \(error.code) \(error.message)", sourceLocation: sourceLocation)
        print("\(what): invalidArgument: \(error.message)")
    } catch {
        Issue.record("\(what): unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
