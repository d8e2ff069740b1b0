// 16-bit mono WAV through libsndfile.

import CSndFile
import ERICore

enum AudioWriter {
    /// Writes `samples` as a 16-bit PCM WAV file with one channel at `sampleRate` Hz.
    static func writeWAV(path: String, samples: [Int16], sampleRate: Int) throws {
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = 1
        info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        guard let file = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw ERIError(.io, "\(path): cannot create the WAV file: \(String(cString: sf_strerror(nil)))")
        }
        let written = samples.withUnsafeBufferPointer { sf_write_short(file, $0.baseAddress, sf_count_t($0.count)) }
        let problem = written == sf_count_t(samples.count) ? nil : String(cString: sf_strerror(file))
        let closed = sf_close(file)
        if let problem { throw ERIError(.io, "\(path): cannot write the samples: \(problem)") }
        guard closed == 0 else {
            throw ERIError(.io, "\(path): cannot finish the WAV file: \(String(cString: sf_error_number(closed)))")
        }
    }
}
