// End to end: descent compare's report.html rendered by headless Chromium (Debian's `chromium`, which the setup
// script installs), and the screenshot checked for the charts' curves — pixels in each optimizer's colour — and
// for the legend and ranking swatches. Skipped, with a message, where Chromium is not installed.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "descent/train/chart.hpp"
#include "descent/train/compare.hpp"
#include "support/temp_dir.hpp"

namespace descent::train {
namespace {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel
};

uint32_t be32(const unsigned char* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }

// Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are).
Image read_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 8 || bytes.compare(1, 3, "PNG") != 0) throw std::runtime_error(path + " is not a PNG");
  Image img;
  int channels = 0;
  std::string idat;
  for (size_t pos = 8; pos + 12 <= bytes.size();) {
    const uint32_t len = be32(p + pos);
    const std::string type = bytes.substr(pos + 4, 4);
    if (pos + 12 + len > bytes.size()) throw std::runtime_error(path + ": truncated chunk " + type);
    const unsigned char* data = p + pos + 8;
    if (type == "IHDR") {
      img.width = static_cast<int>(be32(data));
      img.height = static_cast<int>(be32(data + 4));
      if (data[8] != 8 || data[12] != 0 || (data[9] != 2 && data[9] != 6))
        throw std::runtime_error(path + ": only 8-bit non-interlaced RGB/RGBA is read here");
      channels = data[9] == 6 ? 4 : 3;
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(data), len);
    }
    pos += 12 + len;
  }
  const size_t stride = static_cast<size_t>(img.width) * static_cast<size_t>(channels);
  std::vector<unsigned char> raw((stride + 1) * static_cast<size_t>(img.height));
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      raw_len != raw.size())
    throw std::runtime_error(path + ": bad image data");
  std::vector<unsigned char> prev(stride, 0), cur(stride);
  img.rgb.reserve(static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3);
  for (int y = 0; y < img.height; ++y) {
    const unsigned char* line = raw.data() + static_cast<size_t>(y) * (stride + 1);
    const int filter = line[0];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<size_t>(channels) ? cur[i - channels] : 0, b = prev[i],
                c = i >= static_cast<size_t>(channels) ? prev[i - channels] : 0;
      int predictor = 0;
      switch (filter) {
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) / 2; break;
        case 4: {
          const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: break;
      }
      cur[i] = static_cast<unsigned char>(line[1 + i] + predictor);
    }
    for (int x = 0; x < img.width; ++x)
      for (int k = 0; k < 3; ++k) img.rgb.push_back(cur[static_cast<size_t>(x * channels + k)]);
    std::swap(prev, cur);
  }
  return img;
}

// Pixels within a small distance of #rrggbb.
int64_t count_colour(const Image& img, const std::string& hex) {
  const int r = std::stoi(hex.substr(1, 2), nullptr, 16), g = std::stoi(hex.substr(3, 2), nullptr, 16),
            b = std::stoi(hex.substr(5, 2), nullptr, 16);
  int64_t n = 0;
  for (size_t i = 0; i + 2 < img.rgb.size(); i += 3)
    if (std::abs(img.rgb[i] - r) + std::abs(img.rgb[i + 1] - g) + std::abs(img.rgb[i + 2] - b) <= 24) ++n;
  return n;
}

std::string find_chromium() {
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (std::filesystem::exists(candidate)) return candidate;
  return "";
}

class ReportRenderTest : public testing::TempDirTest {};

TEST_F(ReportRenderTest, ChromiumDrawsEveryOptimizersCurves) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "Chromium is not installed (scripts/setup.sh installs Debian's chromium)";

  // A comparison of three optimizers over 3 epochs of 40 steps, built by hand: the test is about the page.
  CompareResult r;
  r.options.optimizers = {"sgd", "momentum", "adam"};
  r.options.epochs = 3;
  r.train_rows = 1000;
  r.val_rows = 100;
  r.description = "render test";
  for (size_t k = 0; k < 3; ++k) {
    CompareRun run{r.options.optimizers[k], 0.01, 0, {}, {}, false};
    for (int s = 0; s < 120; ++s) run.step_losses.push_back(2.0 / (1.0 + 0.02 * (k + 1) * s));
    for (int e = 1; e <= 3; ++e)
      run.epochs.push_back({e, 1.0 / e, 1.1 / e, 0.6 + 0.05 * static_cast<double>(k) + 0.05 * e, 1.5 + k});
    r.runs.push_back(run);
  }
  r.target_accuracy = 0.75;
  r.ranking = summarize(r.runs, r.target_accuracy);
  write_compare_report(path("report"), r);

  const std::string png = path("shot.png");
  const std::string command = "timeout 120 " + chromium +
                              " --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1800"
                              " --screenshot=" + png + " file://" + path("report/report.html") + " >" +
                              path("chromium.log") + " 2>&1";
  const int status = std::system(command.c_str());
  std::stringstream log;
  log << std::ifstream(path("chromium.log")).rdbuf();
  ASSERT_EQ(status, 0) << command << "\n" << log.str();
  ASSERT_TRUE(std::filesystem::exists(png)) << log.str();
  const Image img = read_png(png);
  ASSERT_EQ(img.width, 1200);
  // Each optimizer's colour: three line charts of 2-px curves, a legend line per chart, a bar and a swatch — far
  // more than the few hundred pixels any single element would give.
  for (size_t k = 0; k < 3; ++k) {
    const int64_t n = count_colour(img, palette_color(k));
    EXPECT_GT(n, 1500) << r.options.optimizers[k] << " (" << palette_color(k) << ") drawn in " << n << " pixels";
  }
  // Axes and text are drawn too, and the page is mostly white.
  EXPECT_GT(count_colour(img, "#333333"), 2000);
  EXPECT_GT(count_colour(img, "#ffffff"), img.width * img.height / 2);
}

}  // namespace
}  // namespace descent::train
