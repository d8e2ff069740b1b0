import Foundation
import Testing
import ERICore
import ERIMedia
@testable import ERISynth

/// One row of data_info.csv, split into its columns.
struct CorpusRow {
    var fileID: String
    var split: String
    /// The seven label strings, as written.
    var labelTexts: [String]
    var labels: [Double]
    var age: Int
    var country: String
    var subject: String

    /// `raw/<split>/<kind>/<id>.<kind>` under `folder`.
    func mediaPath(in folder: String, kind: String) -> String {
        "\(folder)/raw/\(split.lowercased())/\(kind)/\(fileID.dropFirst().dropLast()).\(kind)"
    }
}

/// Reads data_info.csv: its header line and its rows (no field holds a comma).
func readCorpusCSV(_ path: String) throws -> (header: String, rows: [CorpusRow]) {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.hasSuffix("\n"))
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    let header = lines.removeFirst()
    let rows = try lines.map { line -> CorpusRow in
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 12, let age = Int(fields[9]) else {
            throw ERIError(.format, "bad row: \(line)")
        }
        let texts = Array(fields[2..<9])
        return CorpusRow(fileID: fields[0], split: fields[1], labelTexts: texts,
                         labels: texts.map { Double($0) ?? .nan }, age: age, country: fields[10], subject: fields[11])
    }
    return (header, rows)
}

/// `key=value` lines (ffprobe's default writer with nw=1) as a dictionary.
func keyValues(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let equals = line.firstIndex(of: "=") else { continue }
        result[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    return result
}

/// The mono float samples of a WAV file, through ERIMedia.
func wavSamples(_ path: String) throws -> [Float] {
    let decoded = try decodeMedia(path: path, frames: nil, audioRate: 16000)
    let audio = try #require(decoded.audio)
    #expect(audio.channels == 1)
    return audio.samples
}
