// Host test of liberi's C API from C++17 with RAII (built with -std=c++17 -Wall -Wextra -Werror).
//
//     test_cpp BAD_FORMAT_FILE MODEL.eri...
//
// BAD_FORMAT_FILE is a crafted file that must be rejected with ERI_ERR_FORMAT
// (make_bad_models.py's wrong_shape.eri); the MODEL files are good models.
#include <eri.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace eri {

// A liberi failure: the status and eri_last_error() at the time.
class error : public std::runtime_error {
public:
    error(eri_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
    eri_status status() const noexcept { return status_; }

private:
    eri_status status_;
};

inline void check(eri_status status) {
    if (status != ERI_OK) throw error(status, std::string(eri_status_string(status)) + ": " + eri_last_error());
}

using model_ptr = std::unique_ptr<eri_model, decltype(&eri_model_close)>;

inline model_ptr open(const std::string &path, int threads = 0) {
    eri_model_options options;
    check(eri_model_options_init(&options));
    options.n_threads = threads;
    eri_model *raw = nullptr;
    check(eri_model_open(path.c_str(), &options, &raw));
    return model_ptr(raw, &eri_model_close);
}

inline struct eri_model_info info(const model_ptr &model) {
    struct eri_model_info out {};
    out.struct_size = sizeof out;
    check(eri_model_info(model.get(), &out));
    return out;
}

}  // namespace eri

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
            eri::model_ptr model = eri::open(path, 1);
            const struct eri_model_info i = eri::info(model);
            std::printf("# %s: %s, video %d (%d frames, %d px, %d ch), audio %d (%d Hz), %llu parameters, provenance \"%s\"\n",
                        path.c_str(), i.preset, i.has_video, i.n_frames, i.image_size, i.n_channels, i.has_audio,
                        i.sample_rate, static_cast<unsigned long long>(i.n_parameters), i.provenance ? i.provenance : "");
            check(i.preset != nullptr && std::strncmp(i.preset, "dbn-", 4) == 0 && i.n_parameters > 0 &&
                      (i.has_video || i.has_audio) && i.config_json != nullptr && i.config_json[0] == '{',
                  "open and describe " + path);
            eri::model_ptr moved = std::move(model);  // ownership moves; closed once at scope end
            check(model == nullptr && moved != nullptr, "unique_ptr moves the model");
        } catch (const std::exception &e) {
            check(false, "open and describe " + path, e.what());
        }
    }

    const std::string missing = bad + ".does-not-exist";
    expect_error("a missing file throws ERI_ERR_IO", ERI_ERR_IO, missing + ": no such file", [&] { eri::open(missing); });
    expect_error("a malformed file throws ERI_ERR_FORMAT", ERI_ERR_FORMAT, bad, [&] { eri::open(bad); });
    expect_error("NULL info arguments throw ERI_ERR_INVALID_ARGUMENT", ERI_ERR_INVALID_ARGUMENT, "NULL",
                 [&] { eri::check(eri_model_info(nullptr, nullptr)); });

    try {  // An empty unique_ptr calls nothing; a reset one closes exactly once.
        eri::model_ptr empty(nullptr, &eri_model_close);
        eri::model_ptr m = eri::open(models[0]);
        m.reset();
        check(m == nullptr, "unique_ptr reset closes the model");
    } catch (const std::exception &e) {
        check(false, "unique_ptr reset closes the model", e.what());
    }

    std::printf("1..%d\n# test_cpp: %d passed, %d failed\n", n_pass + n_fail, n_pass, n_fail);
    return n_fail ? 1 : 0;
}
