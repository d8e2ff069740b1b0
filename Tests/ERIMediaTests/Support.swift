import Foundation
import Testing
import ERICore
@testable import ERIMedia
import ERITestSupport

/// The oracle for frames: every frame the CLI decodes (`-vsync passthrough`:
/// one output frame per decoded frame, no duplication or dropping), RGB24.
func cliFrames(_ file: String, width: Int, height: Int, in folder: TemporaryFolder) throws -> [[UInt8]] {
    let out = folder.file(UUID().uuidString + ".rgb")
    try ffmpeg(["-i", file, "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", out])
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
    let frameSize = width * height * 3
    guard frameSize > 0, bytes.count % frameSize == 0 else {
        throw OracleError("ffmpeg gave \(bytes.count) bytes, not a whole number of \(width)×\(height) frames")
    }
    return stride(from: 0, to: bytes.count, by: frameSize).map { Array(bytes[$0..<$0 + frameSize]) }
}

/// The oracle for audio: `ffmpeg -i F -ar RATE -f f32le` (channels kept).
func cliAudio(_ file: String, rate: Int, in folder: TemporaryFolder) throws -> [Float] {
    let out = folder.file(UUID().uuidString + ".f32")
    try ffmpeg(["-i", file, "-vn", "-ar", "\(rate)", "-f", "f32le", out])
    let data = try Data(contentsOf: URL(fileURLWithPath: out))
    return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

func meanAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count)
    var total = 0
    for i in 0..<a.count { total += abs(Int(a[i]) - Int(b[i])) }
    return Double(total) / Double(max(a.count, 1))
}

/// Channel `channel` of interleaved samples.
func channel(_ samples: [Float], _ channel: Int, of channels: Int) -> [Float] {
    stride(from: channel, to: samples.count, by: channels).map { samples[$0] }
}

func rootMeanSquareDifference(_ a: [Float], _ b: [Float]) -> Double {
    let n = min(a.count, b.count)
    var total = 0.0
    for i in 0..<n { total += Double(a[i] - b[i]) * Double(a[i] - b[i]) }
    return (total / Double(max(n, 1))).squareRoot()
}

final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

/// Runs `body` on its own thread and waits at most `seconds`: a hang becomes a
/// failed test instead of a stuck run. Returns nil on a timeout.
func withTimeLimit<T>(_ seconds: Double, _ body: @escaping @Sendable () -> T) -> T? {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        box.value = body()
        done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
    guard done.wait(timeout: .now() + seconds) == .success else { return nil }
    return box.value
}

/// The error `body` throws, checked to be an ERIError within `seconds`.
func expectMediaError(_ seconds: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: @escaping @Sendable () throws -> Void) -> ERIError? {
    let outcome = withTimeLimit(seconds) { () -> Result<Void, Error> in Result { try body() } }
    guard let outcome else {
        Issue.record("did not return within \(seconds) s", sourceLocation: sourceLocation)
        return nil
    }
    switch outcome {
    case .success:
        Issue.record("expected an error, got success", sourceLocation: sourceLocation)
        return nil
    case .failure(let error as ERIError):
        if ProcessInfo.processInfo.environment["ERI_MEDIA_TEST_VERBOSE"] != nil { print("ERROR", error.code, error.message) }
        return error
    case .failure(let error):
        Issue.record("expected an ERIError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
