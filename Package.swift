// swift-tools-version:6.0
import PackageDescription

// The data flow, left to right: media → features → branches → fusion → C façade.
// `make` builds the `eri` product as a self-contained liberi.so (see Makefile).
let package = Package(
    name: "liberi",
    products: [
        // .dynamic: the file is liberi.so; only eri_* symbols are exported
        // (Sources/ERI/exports.map) and the soname is liberi.so.0.
        .library(name: "eri", type: .dynamic, targets: ["ERI"]),
        .executable(name: "eri-cli", targets: ["eri-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev, libsndfile1-dev, libav*-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev", "libavutil-dev"])]),
        // The C header's types (eri_image, option structs) for the Swift façade,
        // the thread-local error buffer, which Swift cannot declare, and the face
        // detector's direct convolution (AVX2 + FMA intrinsics, chosen at run time).
        .target(name: "CERISupport"),

        // The data flow: media → features → faces → pipeline → network → façade. The
        // network (ERIModel) is tensors in, seven numbers out, on ERICore alone;
        // the pipeline turns frames, PCM and files into its tensors and runs it.
        // `make check-layers` keeps every import pointing down this list.
        .target(name: "ERICore", dependencies: ["CBLAS", "CERISupport"]),
        .target(name: "ERIMedia", dependencies: ["ERICore", "CFFmpeg", "CSndFile"]),
        .target(name: "ERIFeatures", dependencies: ["ERICore", "CFFmpeg", "CERISupport"]),
        // MTCNN face detection, alignment and tracking (SPEC §4.1a).
        .target(name: "ERIFaces", dependencies: ["ERICore", "ERIFeatures", "CERISupport"]),
        .target(name: "ERIModel", dependencies: ["ERICore"]),
        .target(name: "ERIPipeline", dependencies: ["ERICore", "ERIMedia", "ERIFeatures", "ERIFaces", "ERIModel"]),
        .target(name: "ERITrain", dependencies: ["ERICore", "ERIMedia", "ERIFeatures", "ERIFaces", "ERIModel", "ERIPipeline"]),
        // `eri synth`: a procedural reaction corpus (face video + voice) for tests and the demo.
        .target(name: "ERISynth", dependencies: ["ERICore", "CFFmpeg", "CSndFile"]),
        .target(name: "ERI", dependencies: ["ERICore", "ERIFeatures", "ERIPipeline", "CERISupport"],
                exclude: ["exports.map"],
                linkerSettings: [.unsafeFlags([
                    "-Xlinker", "-soname=liberi.so.0",
                    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/ERI/exports.map",
                ])]),
        .executableTarget(name: "eri-cli", dependencies: [
            "ERICore", "ERIFeatures", "ERIMedia", "ERIModel", "ERIPipeline", "ERITrain", "ERISynth",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // `make bench`: liberi's side of benchmarks/bench.py (not a test).
        .executableTarget(name: "eri-bench", dependencies: ["CBLAS", "ERICore", "ERIFaces", "ERIFeatures", "ERIModel", "ERIPipeline"], path: "benchmarks/swift",
                          swiftSettings: [.define("ERI_BENCH_BACKBONE")]),

        // What every test target shares: the reference/ oracle runner, the llm.c-style
        // `check`, TemporaryFolder, the process launcher, seeded test data. Only test
        // targets depend on it, so neither liberi.so nor the CLI contains it.
        .target(name: "ERITestSupport", dependencies: ["ERICore"], path: "Tests/ERITestSupport"),
        .testTarget(name: "ERICoreTests", dependencies: ["ERICore", "ERITestSupport", "CERISupport"]),
        .testTarget(name: "ERIFeaturesTests", dependencies: ["ERIFeatures", "ERICore", "ERITestSupport"]),
        .testTarget(name: "ERIMediaTests", dependencies: ["ERIMedia", "ERIFeatures", "ERICore", "ERITestSupport"]),
        .testTarget(name: "ERISynthTests", dependencies: ["ERISynth", "ERIMedia", "ERICore", "ERITestSupport"]),
        .testTarget(name: "ERITrainTests", dependencies: ["ERITrain", "ERIPipeline", "ERIModel", "ERIFaces", "ERIFeatures", "ERIMedia", "ERICore",
                                                        "ERITestSupport"]),
        .testTarget(name: "ERIFacesTests", dependencies: ["ERIFaces", "ERIFeatures", "ERICore", "ERITestSupport", "CERISupport"]),
        .testTarget(name: "ERIModelTests", dependencies: ["ERIModel", "ERIPipeline", "ERITrain", "ERIFeatures", "ERICore", "ERITestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
