// libFuzzer target: the CSV reader, then the label split descent train applies to it.
#include "descent/data/csv.hpp"
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return descent::fuzz::run_one(data, size, [](std::string_view text) {
    const descent::data::CsvTable table = descent::data::parse_csv(text, "fuzz");
    descent::data::split_label_column(table, "label");
  });
}
