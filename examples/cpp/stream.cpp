// Replays a media file as a live source into eri::stream and prints an
// estimate every 0.5 s of media time (the C++ twin of examples/c/stream.c).
//
//   stream_cpp MODEL.eri MEDIA [--fast]
//
// ffmpeg decodes the file into two pipes: 320x240 RGB24 frames at 25 fps and
// 16 kHz mono float PCM in 20 ms chunks, pushed in timestamp order.
#include <eri.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {
constexpr int W = 320, H = 240, FPS = 25, RATE = 16000, CHUNK = RATE / 50;

using pipe_ptr = std::unique_ptr<FILE, int (*)(FILE *)>;

pipe_ptr decode(const std::string &media, const std::string &output_args) {
    std::string command = "ffmpeg -nostdin -v error -i '" + media + "' " + output_args + " - 2>/dev/null";
    return pipe_ptr(popen(command.c_str(), "r"), &pclose);
}
}  // namespace

int main(int argc, char **argv) try {
    if (argc < 3) {
        std::cerr << "usage: " << argv[0] << " MODEL.eri MEDIA [--fast]\n";
        return 2;
    }
    const bool fast = argc > 3 && std::string(argv[3]) == "--fast";
    const std::string media = argv[2];
    if (media.find('\'') != std::string::npos) throw std::runtime_error("a quote in the path is not supported here");
    eri::model model(argv[1]);
    eri::stream stream(model);
    const auto info = model.info();
    pipe_ptr video = info.has_video ? decode(media, "-an -vf scale=320:240,fps=25 -f rawvideo -pix_fmt rgb24") : pipe_ptr(nullptr, &pclose);
    pipe_ptr audio = info.has_audio ? decode(media, "-vn -ac 1 -ar 16000 -f f32le") : pipe_ptr(nullptr, &pclose);
    std::vector<unsigned char> frame(W * H * 3);
    std::vector<float> chunk(CHUNK);
    long frames = 0, samples = 0;
    bool video_done = !video, audio_done = !audio;
    double next_read = 0.5;
    const auto start = std::chrono::steady_clock::now();

    std::cout << "t_end_s";
    for (int e = 0; e < ERI_NUM_EMOTIONS; e++) std::cout << '\t' << eri::emotion_name(e);
    std::cout << '\n';
    while (!video_done || !audio_done) {
        const double tf = video_done ? 1e300 : double(frames) / FPS, ta = audio_done ? 1e300 : double(samples) / RATE;
        const double t = std::min(tf, ta);
        for (; next_read <= t; next_read += 0.5) {
            try {
                const auto [y, end] = stream.read();
                std::printf("%.2f", end);
                for (float v : y) std::printf("\t%.4f", v);
                std::printf("\n");
                std::fflush(stdout);
            } catch (const eri::error &e) {
                if (e.status() != ERI_ERR_MISSING_MODALITY) throw;  // nothing in the window yet
            }
        }
        if (!fast) std::this_thread::sleep_until(start + std::chrono::duration<double>(t));
        if (tf <= ta) {
            if (std::fread(frame.data(), frame.size(), 1, video.get()) != 1) { video_done = true; continue; }
            eri_image image{};
            image.data = frame.data();
            image.width = W;
            image.height = H;
            image.format = ERI_PIXEL_RGB24;
            stream.push_frame(image, tf);
            frames++;
        } else {
            const size_t n = std::fread(chunk.data(), sizeof(float), CHUNK, audio.get());
            if (n == 0) { audio_done = true; continue; }
            stream.push_pcm(chunk.data(), n, RATE, 1, ta);
            samples += long(n);
        }
    }
    std::cerr << "stream_cpp: " << frames << " frames, " << double(samples) / RATE << " s of audio\n";
    return frames + samples > 0 ? 0 : 1;
} catch (const eri::error &e) {
    std::cerr << "stream_cpp: " << e.what() << " (status " << e.status() << ")\n";
    return 1;
} catch (const std::exception &e) {
    std::cerr << "stream_cpp: " << e.what() << '\n';
    return 1;
}
