// Host test of liberi's C++ layer, the installed <eri.hpp> (RAII handles, exceptions), built with
// -std=c++17 -Wall -Wextra -Wshadow -pedantic -Werror.
//
//     test_cpp BAD_FORMAT_FILE MODEL.eri...
//
// BAD_FORMAT_FILE is a crafted file that must be rejected with ERI_ERR_FORMAT
// (make_bad_models.py's wrong_shape.eri); the MODEL files are good models, the
// first with both branches.
#include <eri.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

static int n_pass = 0, n_fail = 0;

static bool check(bool ok, const std::string &name, const std::string &why = "") {
    if (ok) {
        ++n_pass;
        std::printf("ok %d - %s\n", n_pass + n_fail, name.c_str());
    } else {
        ++n_fail;
        std::printf("not ok %d - %s: %s\n", n_pass + n_fail, name.c_str(), why.c_str());
    }
    std::fflush(stdout);
    return ok;
}

// Runs body, expecting an eri::error with `expected` whose text holds `needle`.
template <typename F>
static void expect_error(const std::string &name, eri_status expected, const std::string &needle, F body) {
    try {
        body();
        check(false, name, "no exception");
    } catch (const eri::error &e) {
        std::string what = e.what();
        check(e.status() == expected && what.find(needle) != std::string::npos, name,
              "status " + std::to_string(e.status()) + ", what() \"" + what + "\"");
    } catch (const std::exception &e) {
        check(false, name, std::string("another exception: ") + e.what());
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s BAD_FORMAT_FILE MODEL.eri...\n", argv[0]);
        return 2;
    }
    const std::string bad = argv[1];
    const std::vector<std::string> models(argv + 2, argv + argc);

    check(std::string(eri_version()) == std::to_string(ERI_VERSION_MAJOR) + "." + std::to_string(ERI_VERSION_MINOR) + "." +
                                            std::to_string(ERI_VERSION_PATCH) &&
              eri_version_number() == ERI_VERSION_NUMBER,
          "header and library versions agree", eri_version());

    for (const auto &path : models) {
        try {
            eri::model model(path, 1);
            const eri_model_details i = model.info();
            std::printf("# %s: %s, video %d (%d frames, %d px, %d ch), audio %d (%d Hz), %llu parameters, provenance \"%s\"\n",
                        path.c_str(), i.preset, i.has_video, i.n_frames, i.image_size, i.n_channels, i.has_audio,
                        i.sample_rate, static_cast<unsigned long long>(i.n_parameters), i.provenance ? i.provenance : "");
            check(i.preset != nullptr && std::strncmp(i.preset, "dbn-", 4) == 0 && i.n_parameters > 0 &&
                      (i.has_video || i.has_audio) && i.config_json != nullptr && i.config_json[0] == '{',
                  "open and describe " + path);
            eri::model moved = std::move(model);  // ownership moves; closed once at scope end
            check(model.get() == nullptr && moved.get() != nullptr, "eri::model moves its handle");
        } catch (const std::exception &e) {
            check(false, "open and describe " + path, e.what());
        }
    }

    const std::string missing = bad + ".does-not-exist";
    expect_error("a missing file throws ERI_ERR_IO", ERI_ERR_IO, missing + ": no such file", [&] { eri::model m(missing); });
    expect_error("a malformed file throws ERI_ERR_FORMAT", ERI_ERR_FORMAT, bad, [&] { eri::model m(bad); });
    expect_error("NULL info arguments throw ERI_ERR_INVALID_ARGUMENT", ERI_ERR_INVALID_ARGUMENT, "NULL",
                 [&] { eri::check(eri_model_get_info(nullptr, nullptr)); });

    try {  // An empty model_ptr calls nothing; a reset one closes exactly once.
        eri::model_ptr empty(nullptr, &eri_model_close);
        eri::model_ptr raw(nullptr, &eri_model_close);
        eri_model *handle = nullptr;
        eri::check(eri_model_open(models[0].c_str(), nullptr, &handle));
        raw.reset(handle);
        raw.reset();
        check(empty == nullptr && raw == nullptr, "eri::model_ptr reset closes the model");
    } catch (const std::exception &e) {
        check(false, "eri::model_ptr reset closes the model", e.what());
    }

    try {  // The two-branch model: a frame through predict, a stream that refuses to read before input.
        eri::model model(models[0]);
        std::vector<uint8_t> pixels(32 * 24 * 3, 128);
        const eri_image frame{pixels.data(), 32, 24, 0, ERI_PIXEL_RGB24, 0, 0.0f, 0.0f, 0.0f, 0.0f, nullptr, nullptr, 0};
        const eri::intensities y = model.predict({frame});
        bool in_range = true;
        for (float v : y) in_range = in_range && v >= 0.0f && v <= 1.0f;
        check(in_range, "eri::model::predict gives 7 values in [0, 1]");
        eri::stream live(model, 2.0);
        expect_error("eri::stream::read before any push throws ERI_ERR_MISSING_MODALITY", ERI_ERR_MISSING_MODALITY, "",
                     [&] { live.read(); });
        live.push_frame(frame, 0.0);
        live.push_frame(frame, 0.5);
        const std::pair<eri::intensities, double> r = live.read();
        check(r.second >= 0.0 && live.span().n_frames > 0, "eri::stream reads after a push and reports its span");
    } catch (const std::exception &e) {
        check(false, "eri::model::predict and eri::stream", e.what());
    }

    std::printf("1..%d\n# test_cpp: %d passed, %d failed\n", n_pass + n_fail, n_pass, n_fail);
    return n_fail ? 1 : 0;
}
