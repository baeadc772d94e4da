// Reads traces into memory for gateway-lab: the gateway's own trace files
// (cache/trace_format.hpp; several files in the order given, e.g. the
// rotated trace.bin.2 trace.bin.1 trace.bin), plain CSV
// `time,key,size[,ttl]` and libCacheSim's oracleGeneral binary format.
//
// Runs on the lab's main thread, once per command. Bad input throws
// LabError naming the file and the byte offset (binary) or line (CSV).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lab/trace.hpp"

namespace gateway::lab {

enum class TraceFormat { gateway, csv, oracle };

std::optional<TraceFormat> parse_trace_format(std::string_view name);  // "gateway" | "csv" | "oracle"

struct ReadOptions {
  std::optional<TraceFormat> format{};  // nullopt: by magic, then by file name
  // Imported sizes (CSV, oracleGeneral) are rounded up to blocks of this
  // many bytes, as a zone charges its files; 1 keeps them exact.
  std::uint64_t block = kBlock;
};

// The format of one file: "GWTRACE1" magic -> gateway; a name holding
// "oracleGeneral" -> oracle; ".csv" or text that starts like a CSV row ->
// csv. Throws if none fits (use --format).
TraceFormat detect_format(const std::string& path, std::string_view head);

// Every file's requests, in order, into one trace.
Trace read_traces(const std::vector<std::string>& paths, const ReadOptions& options = {});

// One file's bytes, parsed (exposed for the tests: `name` only labels errors).
void parse_gateway_trace(const std::string& name, std::string_view bytes, Trace& into, bool first_file);
void parse_csv_trace(const std::string& name, std::string_view text, Trace& into, std::uint64_t block);
void parse_oracle_trace(const std::string& name, std::string_view bytes, Trace& into, std::uint64_t block);

// A CSV key as the lab names it: a decimal number n is the object n
// (mix64(n), as oracleGeneral ids are), anything else its hash64.
std::uint64_t key_id(std::string_view key);
std::uint64_t object_id(std::uint64_t n);

}  // namespace gateway::lab
