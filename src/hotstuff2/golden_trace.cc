// Golden-trace runner (syntax in golden_trace.h). Parses a trace line by line,
// steps a Replica, renders every output of every step to canonical text and
// compares it with the expected lines: nothing an output holds goes unchecked.
#include "hotstuff2/golden_trace.h"

#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "common/bytes.h"
#include "hotstuff2/hotstuff2.h"
#include "hotstuff2/test_equal.h"

namespace kestrel::hotstuff2::golden {

namespace {

// A syntax or reference error in the trace itself: the run stops at that line.
struct TraceError {
  std::string message;
};

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::vector<std::string> split_on(const std::string& s, char separator) {
  std::vector<std::string> parts;
  if (s.empty()) return parts;
  // Each pass consumes at least one character: at most s.size() + 1 parts.
  for (std::size_t start = 0; start <= s.size();) {
    std::size_t end = s.find(separator, start);
    if (end == std::string::npos) end = s.size();
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::uint64_t parse_number(const std::string& s) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) throw TraceError{"not a number: '" + s + "'"};
  return v;
}

Bytes parse_hex(const std::string& s) {
  auto bytes = from_hex(s);
  if (!bytes) throw TraceError{"not hex: '" + s + "'"};
  return *bytes;
}

Bytes default_signature(ReplicaId r) { return Bytes{0x73, static_cast<std::uint8_t>(r)}; }

// The words of a line after its keyword: positional words and key=value pairs.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> keyed;
  std::set<std::string> used;

  static Args parse(const std::vector<std::string>& words, std::size_t first) {
    Args a;
    for (std::size_t i = first; i < words.size(); ++i) {
      const auto eq = words[i].find('=');
      if (eq == std::string::npos) {
        a.positional.push_back(words[i]);
      } else if (!a.keyed.emplace(words[i].substr(0, eq), words[i].substr(eq + 1)).second) {
        throw TraceError{"key given twice: " + words[i].substr(0, eq)};
      }
    }
    return a;
  }
  std::optional<std::string> get(const std::string& key) {
    auto it = keyed.find(key);
    if (it == keyed.end()) return std::nullopt;
    used.insert(key);
    return it->second;
  }
  std::string need(const std::string& key) {
    auto v = get(key);
    if (!v) throw TraceError{"missing " + key + "="};
    return *v;
  }
  std::uint64_t number(const std::string& key, std::uint64_t fallback) {
    auto v = get(key);
    return v ? parse_number(*v) : fallback;
  }
  // A typo in a key must not be silently ignored.
  void done() const {
    for (const auto& [key, value] : keyed) {
      if (!used.count(key)) throw TraceError{"unknown key " + key + "="};
    }
  }
};

class Runner {
 public:
  explicit Runner(std::string file) : file_(std::move(file)) {}

  std::vector<std::string> run(std::string_view text) {
    std::vector<std::string> lines;
    for (std::size_t start = 0; start <= text.size();) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      std::string line(text.substr(start, end - start));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
      start = end + 1;
    }
    std::size_t i = 0;
    try {
      while (i < lines.size() && failures_.size() < failures_max) {
        line_number_ = i + 1;
        const std::vector<std::string> words = split_words(lines[i]);
        ++i;
        if (words.empty() || words[0][0] == '#') continue;
        if (words[0] == "<") throw TraceError{"expected output with no input before it"};
        if (words[0] != ">") {
          directive(words);
          continue;
        }
        // One step: the input, then every `<` line up to the next other line.
        const std::size_t input_line = line_number_;
        const std::string input_text = join(words);
        std::vector<std::pair<std::size_t, std::string>> expected;
        while (i < lines.size()) {
          const std::vector<std::string> w = split_words(lines[i]);
          if (!w.empty() && w[0][0] != '#' && w[0] != "<") break;
          if (!w.empty() && w[0] == "<") expected.emplace_back(i + 1, join(w));
          ++i;
        }
        step(words, input_line, input_text, expected);
      }
    } catch (const TraceError& e) {
      failures_.push_back(file_ + ":" + std::to_string(line_number_) + ": trace error: " + e.message);
    }
    return failures_;
  }

 private:
  static constexpr std::size_t failures_max = 8;  // later steps usually repeat the first mismatch

  // --- Directives ---------------------------------------------------------------

  void directive(const std::vector<std::string>& words) {
    const std::string& kind = words[0];
    if (kind == "config") return configure(words);
    if (!replica_) throw TraceError{"the first directive must be config"};
    if (kind == "block") return define_block(words);
    if (kind == "qc") return define_qc(words);
    if (kind == "tc") return define_tc(words);
    if (kind == "restart") return restart(words);
    if (kind == "counters") return check_counters(words);
    if (kind == "state") return check_state(words);
    throw TraceError{"unknown directive '" + kind + "'"};
  }

  void configure(const std::vector<std::string>& words) {
    if (replica_) throw TraceError{"config given twice (one scenario per file)"};
    Args a = Args::parse(words, 1);
    Config c;
    c.n = static_cast<std::uint32_t>(a.number("n", c.n));
    c.self = static_cast<ReplicaId>(a.number("self", c.self));
    c.chain_id = a.number("chain", c.chain_id);
    c.view_timeout_ticks = a.number("timeout", c.view_timeout_ticks);
    c.view_timeout_ticks_max = a.number("timeout_max", c.view_timeout_ticks_max);
    c.propose_wait_ticks = a.number("propose_wait", c.propose_wait_ticks);
    c.idle_propose_delay_ticks = a.number("idle_delay", c.idle_propose_delay_ticks);
    c.view_jump_max = a.number("view_jump_max", c.view_jump_max);
    c.vote_views_max = a.number("vote_views_max", c.vote_views_max);
    c.timeout_views_max = a.number("timeout_views_max", c.timeout_views_max);
    c.fetch_blocks_max = static_cast<std::uint32_t>(a.number("fetch_blocks_max", c.fetch_blocks_max));
    c.blocks_max = a.number("blocks_max", c.blocks_max);
    c.future_proposals_max = a.number("future_proposals_max", c.future_proposals_max);
    c.fetches_in_flight_max = a.number("fetches_in_flight_max", c.fetches_in_flight_max);
    c.commit_walk_max = a.number("commit_walk_max", c.commit_walk_max);
    c.reserve_next_proposal = a.number("reserve_next_proposal", 0) != 0;
    a.done();
    if (!a.positional.empty()) throw TraceError{"unexpected '" + a.positional[0] + "'"};
    if (c.n == 0 || c.n > 128 || c.self >= c.n) throw TraceError{"need 0 < n <= 128 and self < n"};
    config_ = c;
    const Block genesis = genesis_block(c.chain_id);
    name_block("G", genesis);
    name_qc("QG", genesis_qc(genesis));
    replica_ = std::make_unique<Replica>(config_, RestoredState{});
  }

  void define_block(const std::vector<std::string>& words) {
    if (words.size() < 2) throw TraceError{"block needs a name"};
    Args a = Args::parse(words, 2);
    Block b;
    b.view = parse_number(a.need("view"));
    b.parent = block_ref(a.need("parent"));
    b.justify = qc_ref(a.need("justify"));
    if (auto p = a.get("payload")) b.payload = parse_hex(*p);
    auto parent = blocks_.find(b.parent);
    if (auto h = a.get("height")) {
      b.height = parse_number(*h);
    } else if (parent != blocks_.end()) {
      b.height = parent->second.height + 1;
    } else {
      throw TraceError{"height= needed: the parent is not a named block"};
    }
    b.proposer = static_cast<ReplicaId>(a.number("proposer", leader_of(b.view, config_.n)));
    a.done();
    name_block(words[1], b);
  }

  void define_qc(const std::vector<std::string>& words) {
    if (words.size() < 2) throw TraceError{"qc needs a name"};
    Args a = Args::parse(words, 2);
    QuorumCertificate qc;
    qc.view = parse_number(a.need("view"));
    qc.block_id = block_ref(a.need("block"));
    const std::vector<std::string> signers = split_on(a.need("signers"), ',');
    std::vector<std::string> sigs;
    if (auto s = a.get("sigs")) sigs = split_on(*s, ',');
    if (!sigs.empty() && sigs.size() != signers.size()) throw TraceError{"sigs= needs one per signer"};
    for (std::size_t i = 0; i < signers.size(); ++i) {
      const auto signer = static_cast<ReplicaId>(parse_number(signers[i]));
      qc.signatures.push_back({signer, sigs.empty() ? default_signature(signer) : parse_hex(sigs[i])});
    }
    a.done();
    name_qc(words[1], qc);
  }

  void define_tc(const std::vector<std::string>& words) {
    if (words.size() < 2) throw TraceError{"tc needs a name"};
    Args a = Args::parse(words, 2);
    TimeoutCertificate tc;
    tc.view = parse_number(a.need("view"));
    for (const std::string& entry : split_on(a.need("entries"), ',')) {
      const auto colon = entry.find(':');
      if (colon == std::string::npos) throw TraceError{"entries are signer:high_qc_view"};
      const auto signer = static_cast<ReplicaId>(parse_number(entry.substr(0, colon)));
      tc.entries.push_back({signer, parse_number(entry.substr(colon + 1)), default_signature(signer)});
    }
    a.done();
    if (names_.count(words[1])) throw TraceError{"name " + words[1] + " already used"};
    names_.insert(words[1]);
    tcs_.emplace_back(words[1], tc);
  }

  // `restart`: from everything persisted. `restart lose_last_step`: a crash
  // before the last step's records were durable (what an early proposal may
  // leave behind: it left before them).
  void restart(const std::vector<std::string>& words) {
    if (words.size() > 2 || (words.size() == 2 && words[1] != "lose_last_step")) {
      throw TraceError{"restart takes no arguments or lose_last_step"};
    }
    if (words.size() == 2) disk_ = disk_before_last_step_;
    RestoredState restored;
    restored.safety = disk_.safety;
    restored.commit = disk_.commit;
    restored.blocks = disk_.blocks;
    replica_ = std::make_unique<Replica>(config_, restored);
  }

  void check_counters(const std::vector<std::string>& words) {
    Args a = Args::parse(words, 1);
    if (!a.positional.empty() || a.keyed.empty()) throw TraceError{"counters takes name=value pairs"};
    const Counters& c = replica_->counters();
    const std::map<std::string, std::uint64_t> named = {
        {"proposals_sent", c.proposals_sent}, {"votes_sent", c.votes_sent},
        {"qcs_formed", c.qcs_formed},         {"tcs_formed", c.tcs_formed},
        {"timeouts_sent", c.timeouts_sent},   {"view_changes", c.view_changes},
        {"commits", c.commits},               {"fetches_sent", c.fetches_sent},
        {"equivocations_seen", c.equivocations_seen}, {"safety_alarms", c.safety_alarms},
        {"early_proposals", c.early_proposals}};
    std::string mismatches;
    for (const auto& [key, want_text] : a.keyed) {
      const std::uint64_t want = parse_number(want_text);
      std::uint64_t got = 0;
      if (key == "dropped") {
        for (std::uint64_t d : c.dropped) got += d;
      } else if (key.rfind("dropped.", 0) == 0) {
        bool found = false;
        for (std::size_t d = 0; d < c.dropped.size(); ++d) {
          if (key.substr(8) == describe(static_cast<Drop>(d))) {
            got = c.dropped[d];
            found = true;
          }
        }
        if (!found) throw TraceError{"unknown counter " + key};
      } else if (auto it = named.find(key); it != named.end()) {
        got = it->second;
      } else {
        throw TraceError{"unknown counter " + key};
      }
      if (got != want) mismatches += " " + key + "=" + std::to_string(got) + " (expected " + want_text + ")";
    }
    if (!mismatches.empty()) fail("counters differ:" + mismatches + "\n  all counters: " + render_counters());
  }

  void check_state(const std::vector<std::string>& words) {
    Args a = Args::parse(words, 1);
    if (!a.positional.empty() || a.keyed.empty()) throw TraceError{"state takes name=value pairs"};
    std::string mismatches;
    auto compare = [&](const std::string& key, const std::string& want, const std::string& got) {
      if (want != got) mismatches += " " + key + "=" + got + " (expected " + want + ")";
    };
    if (auto v = a.get("view")) compare("view", *v, std::to_string(replica_->view()));
    if (auto v = a.get("voted")) compare("voted", *v, std::to_string(replica_->last_voted_view()));
    if (auto v = a.get("lock")) {
      qc_ref(*v);  // must name a QC
      compare("lock", *v, render(replica_->locked_qc()));
    }
    if (auto v = a.get("committed")) {
      block_ref(*v);
      compare("committed", *v, render(replica_->committed_block()));
    }
    if (auto v = a.get("committed_height")) {
      compare("committed_height", *v, std::to_string(replica_->committed_height()));
    }
    a.done();
    if (!mismatches.empty()) fail("state differs:" + mismatches);
  }

  // --- Steps ----------------------------------------------------------------------

  void step(const std::vector<std::string>& words, std::size_t input_line, const std::string& input_text,
            const std::vector<std::pair<std::size_t, std::string>>& expected) {
    if (!replica_) throw TraceError{"the first directive must be config"};
    const Input input = parse_input(words);
    Output out;
    replica_->step(input, out);
    write_disk(out);
    replica_->persisted();  // the runner's disk takes every record at once
    name_own_blocks(out);
    const std::vector<std::string> actual = render(out);
    bool same = actual.size() == expected.size();
    for (std::size_t k = 0; same && k < actual.size(); ++k) same = actual[k] == expected[k].second;
    if (same) return;
    // Report the first differing line by its line number in the file.
    std::size_t k = 0;
    while (k < actual.size() && k < expected.size() && actual[k] == expected[k].second) ++k;
    std::ostringstream m;
    const std::size_t at = k < expected.size() ? expected[k].first : (expected.empty() ? input_line : expected.back().first);
    m << file_ << ":" << at << ": outputs of the step at line " << input_line << " differ\n";
    m << "  input:    " << input_text << "\n";
    m << "  expected: " << (k < expected.size() ? expected[k].second : std::string("(no more lines)")) << "\n";
    m << "  actual:   " << (k < actual.size() ? actual[k] : std::string("(no more lines)")) << "\n";
    m << "  all expected (" << expected.size() << "):\n";
    for (const auto& e : expected) m << "    " << e.second << "\n";
    m << "  all actual (" << actual.size() << "):\n";
    for (const auto& a : actual) m << "    " << a << "\n";
    failures_.push_back(m.str());
  }

  Input parse_input(const std::vector<std::string>& words) {
    if (words.size() < 2) throw TraceError{"empty input"};
    const std::string& kind = words[1];
    if (kind == "start") {
      if (words.size() > 3) throw TraceError{"start [T]"};
      if (words.size() == 3) now_ = parse_number(words[2]);
      return Start{now_};
    }
    if (kind == "tick") {
      if (words.size() != 3) throw TraceError{"tick T"};
      now_ = parse_number(words[2]);
      return TickInput{now_};
    }
    if (kind == "payload") {
      if (words.size() > 3) throw TraceError{"payload HEX | payload held"};
      if (words.size() == 3 && words[2] == "held") return PayloadReady{Bytes{}, true};
      return PayloadReady{words.size() == 3 ? parse_hex(words[2]) : Bytes{}};
    }
    if (kind != "recv") throw TraceError{"unknown input '" + kind + "'"};
    Args a = Args::parse(words, 2);
    Received r;
    r.from = static_cast<ReplicaId>(parse_number(a.need("from")));
    if (auto at = a.get("at")) now_ = parse_number(*at);
    r.now = now_;
    if (a.positional.empty()) throw TraceError{"recv needs a message"};
    const std::string& message = a.positional[0];
    auto one_positional = [&](std::size_t count) {
      if (a.positional.size() != count) throw TraceError{"wrong number of words for " + message};
    };
    if (message == "proposal") {
      one_positional(2);
      Proposal p;
      auto it = blocks_.find(block_ref(a.positional[1]));
      if (it == blocks_.end()) throw TraceError{"proposal needs a block with known content"};
      p.block = it->second;
      if (auto tc = a.get("tc")) p.tc = tc_ref(*tc);
      p.signature = a.get("sig") ? parse_hex(*a.get("sig")) : default_signature(r.from);
      r.message = p;
    } else if (message == "vote") {
      one_positional(1);
      Vote v;
      v.view = parse_number(a.need("view"));
      v.block_id = block_ref(a.need("block"));
      v.voter = static_cast<ReplicaId>(a.number("voter", r.from));
      v.signature = a.get("sig") ? parse_hex(*a.get("sig")) : default_signature(v.voter);
      r.message = v;
    } else if (message == "timeout") {
      one_positional(1);
      Timeout t;
      t.view = parse_number(a.need("view"));
      t.high_qc = qc_ref(a.need("high_qc"));
      t.sender = static_cast<ReplicaId>(a.number("sender", r.from));
      t.signature = a.get("sig") ? parse_hex(*a.get("sig")) : default_signature(t.sender);
      r.message = t;
    } else if (message == "sync") {
      one_positional(1);
      SyncCertificates s;
      if (auto qc = a.get("qc")) s.qc = qc_ref(*qc);
      if (auto tc = a.get("tc")) s.tc = tc_ref(*tc);
      r.message = s;
    } else if (message == "fetch_request") {
      one_positional(1);
      r.message = FetchRequest{block_ref(a.need("block")), static_cast<std::uint32_t>(a.number("count", 1))};
    } else if (message == "fetch_response") {
      one_positional(2);
      FetchResponse f;
      for (const std::string& name : split_on(a.positional[1], ',')) {
        auto it = blocks_.find(block_ref(name));
        if (it == blocks_.end()) throw TraceError{"fetch_response needs blocks with known content: " + name};
        f.blocks.push_back(it->second);
      }
      r.message = f;
    } else {
      throw TraceError{"unknown message '" + message + "'"};
    }
    a.done();
    return r;
  }

  // The storage a driver keeps (contract 3): what `restart` rebuilds from.
  void write_disk(const Output& out) {
    disk_before_last_step_ = disk_;
    for (const Record& record : out.persist) {
      if (const auto* s = std::get_if<SafetyRecord>(&record)) {
        disk_.safety = *s;
      } else if (const auto* b = std::get_if<Block>(&record)) {
        if (disk_.block_ids.insert(b->id()).second) disk_.blocks.push_back(*b);
      } else {
        disk_.commit = std::get<CommitMarker>(record);
      }
    }
  }

  void name_own_blocks(const Output& out) {
    auto consider = [&](const Block& b) {
      const BlockId id = b.id();
      if (block_names_.count(id) || b.proposer != config_.self) return;
      const std::string name = "N" + std::to_string(b.view);
      if (names_.count(name)) return;  // a second own block in one view stays hex
      name_block(name, b);
    };
    for (const Record& record : out.persist) {
      if (const auto* b = std::get_if<Block>(&record)) consider(*b);
    }
    for (const Send& send : out.sends) {
      if (const auto* p = std::get_if<Proposal>(&send.message)) consider(p->block);
    }
  }

  // --- Names -------------------------------------------------------------------------

  void name_block(const std::string& name, const Block& b) {
    if (names_.count(name)) throw TraceError{"name " + name + " already used"};
    const BlockId id = b.id();
    if (block_names_.count(id)) throw TraceError{name + " is the same block as " + block_names_.at(id)};
    names_.insert(name);
    block_ids_[name] = id;
    block_names_[id] = name;
    blocks_[id] = b;
  }

  void name_qc(const std::string& name, const QuorumCertificate& qc) {
    if (names_.count(name)) throw TraceError{"name " + name + " already used"};
    names_.insert(name);
    qcs_.emplace_back(name, qc);
  }

  BlockId block_ref(const std::string& ref) {
    if (ref.size() == 65 && ref[0] == '#') {
      auto id = Hash32::from_hex(ref.substr(1));
      if (!id) throw TraceError{"bad block id " + ref};
      return *id;
    }
    auto it = block_ids_.find(ref);
    if (it == block_ids_.end()) throw TraceError{"unknown block " + ref};
    return it->second;
  }

  QuorumCertificate qc_ref(const std::string& ref) {
    for (const auto& [name, qc] : qcs_) {
      if (name == ref) return qc;
    }
    throw TraceError{"unknown qc " + ref};
  }

  TimeoutCertificate tc_ref(const std::string& ref) {
    for (const auto& [name, tc] : tcs_) {
      if (name == ref) return tc;
    }
    throw TraceError{"unknown tc " + ref};
  }

  // --- Rendering ---------------------------------------------------------------------

  std::string render(const BlockId& id) const {
    if (auto it = block_names_.find(id); it != block_names_.end()) return it->second;
    return "#" + id.hex().substr(0, 8);
  }

  // A block with no name: its id and every field, so a mismatch is readable.
  std::string render_block(const Block& b) const {
    const BlockId id = b.id();
    if (block_names_.count(id)) return render(id);
    return render(id) + "{view=" + std::to_string(b.view) + " height=" + std::to_string(b.height) +
           " proposer=" + std::to_string(b.proposer) + " parent=" + render(b.parent) + " justify=" +
           render(b.justify) + " payload=" + to_hex(b.payload) + "}";
  }

  std::string render(const QuorumCertificate& qc) const {
    for (const auto& [name, named] : qcs_) {
      if (testing::equal(named, qc)) return name;
    }
    std::string s = "{qc view=" + std::to_string(qc.view) + " block=" + render(qc.block_id) + " signers=";
    std::string sigs;
    bool default_sigs = true;
    for (std::size_t i = 0; i < qc.signatures.size(); ++i) {
      s += (i ? "," : "") + std::to_string(qc.signatures[i].signer);
      sigs += (i ? "," : "") + to_hex(qc.signatures[i].signature);
      default_sigs = default_sigs && qc.signatures[i].signature == default_signature(qc.signatures[i].signer);
    }
    if (!default_sigs) s += " sigs=" + sigs;
    return s + "}";
  }

  std::string render(const TimeoutCertificate& tc) const {
    for (const auto& [name, named] : tcs_) {
      if (testing::equal(named, tc)) return name;
    }
    std::string s = "{tc view=" + std::to_string(tc.view) + " entries=";
    bool default_sigs = true;
    for (std::size_t i = 0; i < tc.entries.size(); ++i) {
      const TimeoutEntry& e = tc.entries[i];
      s += (i ? "," : "") + std::to_string(e.signer) + ":" + std::to_string(e.high_qc_view);
      default_sigs = default_sigs && e.signature == default_signature(e.signer);
    }
    if (!default_sigs) s += " (non-default signatures)";
    return s + "}";
  }

  std::string render_signature(const Bytes& sig) const { return sig.empty() ? "" : " sig=" + to_hex(sig); }

  std::string render(const Message& message) const {
    return std::visit(
        [&](const auto& m) -> std::string {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, Proposal>) {
            return "proposal " + render_block(m.block) + (m.tc ? " tc=" + render(*m.tc) : "") +
                   render_signature(m.signature);
          } else if constexpr (std::is_same_v<T, Vote>) {
            return "vote view=" + std::to_string(m.view) + " block=" + render(m.block_id) +
                   (m.voter != config_.self ? " voter=" + std::to_string(m.voter) : "") +
                   render_signature(m.signature);
          } else if constexpr (std::is_same_v<T, Timeout>) {
            return "timeout view=" + std::to_string(m.view) + " high_qc=" + render(m.high_qc) +
                   (m.sender != config_.self ? " sender=" + std::to_string(m.sender) : "") +
                   render_signature(m.signature);
          } else if constexpr (std::is_same_v<T, SyncCertificates>) {
            return std::string("sync") + (m.qc ? " qc=" + render(*m.qc) : "") + (m.tc ? " tc=" + render(*m.tc) : "");
          } else if constexpr (std::is_same_v<T, FetchRequest>) {
            return "fetch_request block=" + render(m.block_id) + " count=" + std::to_string(m.count_max);
          } else {
            std::string s = "fetch_response ";
            for (std::size_t i = 0; i < m.blocks.size(); ++i) s += (i ? "," : "") + render_block(m.blocks[i]);
            return s;
          }
        },
        message);
  }

  std::vector<std::string> render(const Output& out) const {
    std::vector<std::string> lines;
    for (const Record& record : out.persist) {
      if (const auto* s = std::get_if<SafetyRecord>(&record)) {
        lines.push_back("< persist safety voted=" + std::to_string(s->last_voted_view) + " lock=" +
                        render(s->locked_qc) + " timeout=" + std::to_string(s->last_timeout_view) +
                        (s->last_proposed_view ? " proposed=" + std::to_string(s->last_proposed_view) : std::string()));
      } else if (const auto* b = std::get_if<Block>(&record)) {
        lines.push_back("< persist block " + render_block(*b));
      } else {
        const auto& c = std::get<CommitMarker>(record);
        lines.push_back("< persist commit height=" + std::to_string(c.height) + " block=" + render(c.block_id));
      }
    }
    for (const Committed& c : out.commits) {
      std::string line = "< commit " + render(c.block_id) + " height=" + std::to_string(c.height) +
                         " view=" + std::to_string(c.view);
      // Parent and payload are implied by a known block; shown only if they disagree.
      auto it = blocks_.find(c.block_id);
      if (it == blocks_.end() || it->second.parent != c.parent) line += " parent=" + render(c.parent);
      if (it == blocks_.end() || it->second.payload != c.payload) line += " payload=" + to_hex(c.payload);
      lines.push_back(line);
    }
    for (const Send& send : out.sends) {
      lines.push_back((send.to ? "< send to=" + std::to_string(*send.to) + " " : std::string("< broadcast ")) +
                      (send.before_persist ? "early " : "") + render(send.message));
    }
    if (out.proposed) lines.push_back("< proposed");
    if (out.wake_at_tick) lines.push_back("< wake " + std::to_string(*out.wake_at_tick));
    return lines;
  }

  std::string render_counters() const {
    const Counters& c = replica_->counters();
    std::string s;
    for (std::size_t d = 0; d < c.dropped.size(); ++d) {
      if (c.dropped[d]) s += "dropped." + std::string(describe(static_cast<Drop>(d))) + "=" + std::to_string(c.dropped[d]) + " ";
    }
    s += "proposals_sent=" + std::to_string(c.proposals_sent) + " votes_sent=" + std::to_string(c.votes_sent) +
         " qcs_formed=" + std::to_string(c.qcs_formed) + " tcs_formed=" + std::to_string(c.tcs_formed) +
         " timeouts_sent=" + std::to_string(c.timeouts_sent) + " view_changes=" + std::to_string(c.view_changes) +
         " commits=" + std::to_string(c.commits) + " fetches_sent=" + std::to_string(c.fetches_sent) +
         " equivocations_seen=" + std::to_string(c.equivocations_seen) +
         " safety_alarms=" + std::to_string(c.safety_alarms) + " early_proposals=" + std::to_string(c.early_proposals);
    return s;
  }

  void fail(const std::string& message) {
    failures_.push_back(file_ + ":" + std::to_string(line_number_) + ": " + message);
  }

  std::string file_;
  std::size_t line_number_ = 0;
  std::vector<std::string> failures_;
  Config config_;
  std::unique_ptr<Replica> replica_;
  Tick now_ = 0;
  // Names: one namespace for blocks, QCs and TCs so a line never means two things.
  std::set<std::string> names_;
  std::map<std::string, BlockId> block_ids_;
  std::map<BlockId, std::string> block_names_;
  std::map<BlockId, Block> blocks_;
  std::vector<std::pair<std::string, QuorumCertificate>> qcs_;  // in definition order: first name wins
  std::vector<std::pair<std::string, TimeoutCertificate>> tcs_;
  // The replica's disk.
  struct Disk {
    std::optional<SafetyRecord> safety;
    std::optional<CommitMarker> commit;
    std::vector<Block> blocks;
    std::set<BlockId> block_ids;
  };
  Disk disk_, disk_before_last_step_;
};

}  // namespace

std::vector<std::string> run_trace(const std::string& file, std::string_view text) {
  return Runner(file).run(text);
}

}  // namespace kestrel::hotstuff2::golden
