// Predicts a media file, then raw RGB frames with a face box, through <eri.hpp> (installed beside eri.h).
// Build: c++ -std=c++17 predict.cpp $(pkg-config --cflags --libs eri) -o predict
// Run:   ./predict model.eri clip.mp4
#include <eri.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s MODEL.eri MEDIA\n", argv[0]);
        return 2;
    }
    try {
        eri::model model(argv[1]);
        auto info = model.info();
        std::printf("model: %s (video %d, audio %d)\n", info.preset, info.has_video, info.has_audio);

        auto from_file = model.predict_file(argv[2]);
        std::printf("%s:\n", argv[2]);
        for (int i = 0; i < ERI_NUM_EMOTIONS; i++) std::printf("  %-14s %.3f\n", eri::emotion_name(i), from_file[i]);

        if (info.has_video) {
            // Raw frames from memory: 24 grey-blue 200×150 frames, face box in the middle.
            std::vector<uint8_t> pixels(24 * 150 * 200 * 3);
            std::vector<eri_image> frames(24);
            for (size_t n = 0; n < frames.size(); n++) {
                for (size_t i = 0; i < 150 * 200 * 3; i++) pixels[n * 150 * 200 * 3 + i] = static_cast<uint8_t>((i * 7 + n * 13) % 251);
                frames[n] = eri_image{pixels.data() + n * 150 * 200 * 3, 200, 150, 0, ERI_PIXEL_RGB24, 1, 50.0f, 20.0f, 100.0f, 110.0f,
                                      nullptr, nullptr, 0};  // packed RGB: no chroma planes
            }
            auto from_frames = model.predict(frames);
            std::printf("raw frames:\n");
            for (int i = 0; i < ERI_NUM_EMOTIONS; i++) std::printf("  %-14s %.3f\n", eri::emotion_name(i), from_frames[i]);
        }
        try {
            model.predict_file("/nonexistent/clip.mp4");
        } catch (const eri::error &e) {
            std::printf("expected error (%s): %s\n", eri_status_string(e.status()), e.what());
        }
    } catch (const eri::error &e) {
        std::fprintf(stderr, "liberi: %s\n", e.what());
        return 1;
    }
    return 0;
}
