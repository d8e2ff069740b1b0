import ERICore

/// The staged recipe's initialisation (the seed system trained an audio model, a video
/// model, then the two-branch model from them): the branches of `file` are replaced by
/// those of the models at `paths`. A model's video branch (`video.*`) is copied when it has
/// one, its audio branch (`audio.*`, with its MFCC normalisation) likewise; a model whose
/// whole config equals `file`'s also gives its head (fine-tuning a finished model). Each
/// branch must come from one model only, exist in `file`'s config, and have the same
/// config section there (SPEC §3), so that every tensor's name and shape match.
/// Returns what was copied, one line per model, for the log, and the prefixes copied ("video.", "audio.", "head.").
public func initialiseBranches(_ file: inout ModelFile, from paths: [String]) throws -> (log: [String], prefixes: Set<String>) {
    var given: [String: String] = [:]
    var lines: [String] = []
    for path in paths {
        let source = try ModelFile.load(path: path)
        var prefixes: [String] = []
        // A branch the source has must exist, configured alike, in the model being trained.
        func branch<Branch: Equatable>(_ name: String, _ mine: Branch?, _ theirs: Branch?) throws -> Bool {
            guard let theirs else { return false }
            guard let mine else {
                throw ERIError.invalidArgument("--init-from \(path): it has \(name == "video" ? "a" : "an") \(name) branch, the model being trained has none")
            }
            guard mine == theirs else {
                throw ERIError.invalidArgument("--init-from \(path): its \(name) branch (\(source.config.presetName)) is configured "
                                               + "differently from the one being trained (\(file.config.presetName)): train it with the same preset")
            }
            return true
        }
        if try branch("video", file.config.video, source.config.video) { prefixes.append("video.") }
        if try branch("audio", file.config.audio, source.config.audio) { prefixes.append("audio.") }
        if source.config.video == file.config.video && source.config.audio == file.config.audio && source.config.headHidden == file.config.headHidden {
            prefixes.append("head.")
        }
        for prefix in prefixes {
            if let earlier = given[prefix] {
                throw ERIError.invalidArgument("--init-from: both \(earlier) and \(path) give the \(prefix.dropLast()) weights")
            }
            given[prefix] = path
        }
        var count = 0
        for spec in file.config.tensorSpecs where prefixes.contains(where: { spec.name.hasPrefix($0) }) {
            guard let t = source.tensors[spec.name], t.shape == spec.shape else {
                throw ERIError.format("--init-from \(path): no \(spec.name) of shape \(spec.shape)")
            }
            file.tensors[spec.name] = t
            count += 1
        }
        lines.append("initialised \(prefixes.map { String($0.dropLast()) }.joined(separator: " + ")) (\(count) tensors) from \(path)")
    }
    return (lines, Set(given.keys))
}
