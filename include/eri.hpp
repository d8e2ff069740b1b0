// eri.hpp — a small C++17 layer over liberi's C API (eri.h): RAII handles
// (std::unique_ptr with the close functions) and exceptions from status codes.
//
//     #include <eri.hpp>    // c++ -std=c++17 app.cpp $(pkg-config --cflags --libs eri)
//
//     eri::model model("model.eri");
//     eri::intensities y = model.predict_file("clip.mp4");   // throws eri::error
//     eri::stream live(model, 10.0);                         // a 10 s window
//
// Header-only; it adds no symbols to liberi.so. An eri::model may be shared by
// threads for prediction; an eri::stream belongs to one thread at a time.
#pragma once

#include <eri.h>

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace eri {

/// A failed liberi call: what() is eri_last_error(), status() the eri_status.
class error : public std::runtime_error {
public:
    error(eri_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
    eri_status status() const noexcept { return status_; }

private:
    eri_status status_;
};

inline void check(eri_status status) {
    if (status != ERI_OK) throw error(status, eri_last_error());
}

using intensities = std::array<float, ERI_NUM_EMOTIONS>;

/// Owners of the C handles: each closes its handle once, with the C close function.
using model_ptr = std::unique_ptr<eri_model, decltype(&eri_model_close)>;
using stream_ptr = std::unique_ptr<eri_stream, decltype(&eri_stream_close)>;

/// An opened model; share one between threads freely.
class model {
public:
    explicit model(const std::string &path, int threads = 0) : handle_(nullptr, &eri_model_close) {
        eri_model_options options;
        check(eri_model_options_init(&options));
        options.n_threads = threads;
        eri_model *raw = nullptr;
        check(eri_model_open(path.c_str(), &options, &raw));
        handle_.reset(raw);
    }

    eri_model_details info() const {
        eri_model_details i{};
        i.struct_size = sizeof i;
        check(eri_model_get_info(handle_.get(), &i));
        return i;
    }

    intensities predict_file(const std::string &path) const {
        intensities out{};
        check(eri_predict_file(handle_.get(), path.c_str(), out.data()));
        return out;
    }

    intensities predict(const std::vector<eri_image> &frames, const std::vector<float> &interleaved = {},
                        int sample_rate = 0, int channels = 0) const {
        intensities out{};
        const size_t per_channel = channels > 0 ? interleaved.size() / static_cast<size_t>(channels) : 0;
        check(eri_predict_av(handle_.get(), frames.empty() ? nullptr : frames.data(), frames.size(),
                             interleaved.empty() ? nullptr : interleaved.data(), per_channel, sample_rate, channels, out.data()));
        return out;
    }

    const eri_model *get() const noexcept { return handle_.get(); }

private:
    model_ptr handle_;
};

/// A sliding window over live frames and audio; belongs to one thread at a time.
class stream {
public:
    explicit stream(const model &m, double window_s = 0) : handle_(nullptr, &eri_stream_close) {
        eri_stream_options options;
        check(eri_stream_options_init(&options));
        options.window_s = window_s;
        eri_stream *raw = nullptr;
        check(eri_stream_open(m.get(), &options, &raw));
        handle_.reset(raw);
    }

    void push_frame(const eri_image &frame, double timestamp_s) { check(eri_stream_push_frame(handle_.get(), &frame, timestamp_s)); }

    void push_pcm(const float *interleaved, size_t per_channel, int sample_rate, int channels, double timestamp_s) {
        check(eri_stream_push_pcm(handle_.get(), interleaved, per_channel, sample_rate, channels, timestamp_s));
    }

    /// The estimate over the latest window and that window's end (seconds).
    std::pair<intensities, double> read() {
        std::pair<intensities, double> r{};
        check(eri_stream_read(handle_.get(), r.first.data(), &r.second));
        return r;
    }

    /// What the last read used (frame timestamps, audio span).
    eri_stream_span span() {
        eri_stream_span s{};
        s.struct_size = sizeof s;
        check(eri_stream_last_span(handle_.get(), &s));
        return s;
    }

    void reset() noexcept { eri_stream_reset(handle_.get()); }

private:
    stream_ptr handle_;
};

inline const char *emotion_name(int i) { return eri_emotion_name(i); }

}  // namespace eri
