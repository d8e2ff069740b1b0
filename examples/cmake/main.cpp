// A C++ host built with CMake (see CMakeLists.txt): opens a model through
// <eri.hpp>, prints what it is, and predicts a media file.
// Run: ./eri_cmake_example MODEL.eri MEDIA
#include <eri.hpp>

#include <cstdio>

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s MODEL.eri MEDIA\n", argv[0]);
        return 2;
    }
    // The header this was compiled with and the liberi.so it runs with must agree.
    if (eri_version_number() != ERI_VERSION_NUMBER) {
        std::fprintf(stderr, "liberi %s, but built with eri.h %d.%d.%d\n", eri_version(), ERI_VERSION_MAJOR,
                     ERI_VERSION_MINOR, ERI_VERSION_PATCH);
        return 1;
    }
    try {
        eri::model model(argv[1]);
        const auto info = model.info();
        std::printf("liberi %s\n", eri_version());
        std::printf("model: %s, %llu parameters\n", info.preset, static_cast<unsigned long long>(info.n_parameters));
        if (info.has_video)
            std::printf("  video: %d frames, %d px, %d channel(s)\n", info.n_frames, info.image_size, info.n_channels);
        if (info.has_audio) std::printf("  audio: %d Hz\n", info.sample_rate);

        const eri::intensities y = model.predict_file(argv[2]);
        std::printf("%s:\n", argv[2]);
        for (int i = 0; i < ERI_NUM_EMOTIONS; i++) std::printf("  %-14s %.3f\n", eri::emotion_name(i), y[i]);
    } catch (const eri::error &e) {
        std::fprintf(stderr, "liberi: %s (%s)\n", e.what(), eri_status_string(e.status()));
        return 1;
    }
    return 0;
}
