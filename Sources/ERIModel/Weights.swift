import ERICore

/// Owns the model's weights in stable, aligned memory for the life of the
/// model, so layers hold plain pointers instead of nesting
/// `withUnsafeBufferPointer` closures in every forward step.
final class WeightStore: @unchecked Sendable {
    private var blocks: [UnsafeMutableBufferPointer<Float>] = []

    func put(_ values: [Float]) -> UnsafePointer<Float> {
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(values.count, 1))
        _ = b.initialize(from: values)
        blocks.append(b)
        return UnsafePointer(b.baseAddress!)
    }

    deinit { for b in blocks { b.deallocate() } }
}

/// Reads tensors by SPEC §6 name from a validated model file.
struct WeightReader {
    let file: ModelFile
    let store: WeightStore

    func values(_ name: String) -> [Float] {
        // ModelFile.load guarantees every name of config.tensorSpecs is present.
        file.tensors[name]!.data
    }
    func pointer(_ name: String) -> UnsafePointer<Float> { store.put(values(name)) }

    func linear(_ prefix: String) -> LinearLayer {
        let w = file.tensors[prefix + ".weight"]!
        return LinearLayer(weight: pointer(prefix + ".weight"), bias: pointer(prefix + ".bias"),
                           inputs: w.shape[1], outputs: w.shape[0])
    }

    func layerNorm(_ prefix: String) -> LayerNormLayer {
        LayerNormLayer(weight: pointer(prefix + ".weight"), bias: pointer(prefix + ".bias"))
    }
}

struct LinearLayer {
    let weight: UnsafePointer<Float>  // outputs × inputs
    let bias: UnsafePointer<Float>
    let inputs: Int
    let outputs: Int

    func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        linear(x, rows: rows, inputs: inputs, weight: weight, bias: bias, outputs: outputs, into: y)
    }
}

struct LayerNormLayer {
    let weight: UnsafePointer<Float>
    let bias: UnsafePointer<Float>

    func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, width: Int, into y: UnsafeMutablePointer<Float>) {
        layerNorm(x, rows: rows, width: width, weight: weight, bias: bias, into: y)
    }
}

extension ForwardTrace {
    func record(_ name: String, _ values: [Float], shape: [Int]) {
        values.withUnsafeBufferPointer { record(name, $0.baseAddress!, shape: shape) }
    }
}
