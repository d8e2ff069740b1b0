import CERISupport
import ERICore
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// What an `eri_model *` points to: the Swift model plus the C strings that
/// `eri_model_get_info` hands out, which must live as long as the model.
final class ModelHandle {
    let model: Model
    let preset: UnsafeMutablePointer<CChar>
    let configJSON: UnsafeMutablePointer<CChar>
    let provenance: UnsafeMutablePointer<CChar>?
    let metrics: UnsafeMutablePointer<CChar>?

    init(model: Model) {
        self.model = model
        preset = strdup(model.presetName)!
        configJSON = strdup(model.config.json.serialized)!
        provenance = model.file.provenance.map { strdup($0)! }
        metrics = model.file.metrics.map { strdup($0)! }
    }

    deinit {
        free(preset)
        free(configJSON)
        free(provenance)
        free(metrics)
    }

    static func from(_ p: OpaquePointer) -> ModelHandle {
        Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
    }
}

let modelOptionsSize = UInt32(MemoryLayout<eri_model_options>.size)
/// liberi 0.1's eri_model_options ended before `face_model`.
let modelOptionsV1Size = UInt32(MemoryLayout<eri_model_options>.offset(of: \eri_model_options.face_model)!)
/// liberi 0.1's struct eri_model_info ended before `random_weights`.
let modelInfoV1Size = UInt32(MemoryLayout<CERISupport.eri_model_info>.offset(of: \CERISupport.eri_model_info.random_weights)!)

@_cdecl("eri_model_options_init")
public func eri_model_options_init(_ options: UnsafeMutablePointer<eri_model_options>?) -> eri_status {
    guarded {
        guard let options else { return invalid("eri_model_options_init: options is NULL") }
        options.pointee = eri_model_options(struct_size: modelOptionsSize, n_threads: 0, face_model: nil)
        return ERI_OK
    }
}

@_cdecl("eri_model_open")
public func eri_model_open(_ path: UnsafePointer<CChar>?, _ options: UnsafePointer<eri_model_options>?,
                           _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> eri_status {
    guarded {
        guard let outModel else { return invalid("eri_model_open: out_model is NULL") }
        outModel.pointee = nil
        guard let path else { return invalid("eri_model_open: path is NULL") }
        guard path.pointee != 0 else { return fail(ERIError.io("eri_model_open: path is \"\" (an empty string names no file)")) }
        var threads: Int32 = 0
        var faceModel: String?
        if let options {
            let size = structSize(options)
            try checkStructSize(size, atLeast: modelOptionsV1Size, current: UInt32(MemoryLayout<eri_model_options>.size), function: "eri_model_open", argument: "options",
                                filledBy: "eri_model_options_init", type: "eri_model_options")
            let o = readVersioned(options, size: size, defaults: eri_model_options())
            threads = o.n_threads
            guard (0...1024).contains(threads) else { return invalid("eri_model_open: n_threads \(threads) is outside 0…1024") }
            if size >= modelOptionsSize, let p = o.face_model { faceModel = String(cString: p) }
        }
        let model = try Model(path: String(cString: path), threads: Int(threads), faceModel: faceModel)
        outModel.pointee = OpaquePointer(Unmanaged.passRetained(ModelHandle(model: model)).toOpaque())
        return ERI_OK
    }
}

@_cdecl("eri_model_close")
public func eri_model_close(_ model: OpaquePointer?) {
    closeHandle(model, as: ModelHandle.self)
}

/// Fills a caller's `struct eri_model_info` of `struct_size` bytes (0.1's
/// struct, without `random_weights` and `clip_seconds`, or today's).
func modelInfo(_ model: OpaquePointer?, _ outInfo: UnsafeMutablePointer<CERISupport.eri_model_info>?, function: String) -> eri_status {
    guarded {
        guard let model else { return invalid("\(function): model is NULL") }
        guard let outInfo else { return invalid("\(function): out_info is NULL") }
        let size = structSize(outInfo)
        try checkStructSize(size, atLeast: modelInfoV1Size, function: function, argument: "out_info", type: "eri_model_details")
        let handle = ModelHandle.from(model)
        let m = handle.model, c = m.config
        let info = CERISupport.eri_model_info(
            struct_size: 0,
            has_video: c.video != nil ? 1 : 0,
            has_audio: c.audio != nil ? 1 : 0,
            n_frames: Int32(c.video?.frames ?? 0),
            image_size: Int32(c.video?.imageSize ?? 0),
            n_channels: Int32(c.video?.channels ?? 0),
            sample_rate: Int32(c.audio?.sampleRate ?? 0),
            n_parameters: UInt64(c.parameterCount),
            preset: UnsafePointer(handle.preset),
            config_json: UnsafePointer(handle.configJSON),
            provenance: handle.provenance.map { UnsafePointer($0) },
            metrics: handle.metrics.map { UnsafePointer($0) },
            random_weights: m.hasRandomWeights ? 1 : 0,
            clip_seconds: m.trainedClipSeconds ?? 0)
        writeVersioned(info, to: outInfo, size: size)
        return ERI_OK
    }
}

@_cdecl("eri_model_get_info")
public func eri_model_get_info(_ model: OpaquePointer?, _ outInfo: UnsafeMutablePointer<CERISupport.eri_model_info>?) -> eri_status {
    modelInfo(model, outInfo, function: "eri_model_get_info")
}

@_cdecl("eri_model_info")
public func eri_model_info(_ model: OpaquePointer?, _ outInfo: UnsafeMutablePointer<CERISupport.eri_model_info>?) -> eri_status {
    modelInfo(model, outInfo, function: "eri_model_info")
}
