#include "bench/harness/docgen.h"

#include <cstdio>

namespace cosmoseal::bench {

namespace {

constexpr const char* kFirstNames[] = {"Zoë",   "Liam",  "Aiko",   "José",    "Sven",
                                       "Chloé", "Omar",  "Ingrid", "Mateo",   "Nadia",
                                       "Yūki",  "Björn", "Amélie", "Dmitri",  "Priya",
                                       "Noah"};
constexpr const char* kLastNames[] = {"O'Brien", "Müller",   "Tanaka", "García", "Øster",
                                      "Dubois",  "Haddad",   "Lind",   "Rossi",  "Kowalska",
                                      "Sato",    "Þórsson",  "Leroy",  "Ivanov", "Sharma",
                                      "Smith"};
struct City {
  const char* name;
  const char* country;
  const char* zip;
  double lat;
  double lon;
};
constexpr City kCities[] = {{"Zürich", "CH", "8001", 47.3769, 8.5417},
                            {"São Paulo", "BR", "01000-000", -23.5505, -46.6333},
                            {"Kraków", "PL", "30-001", 50.0647, 19.945},
                            {"Reykjavík", "IS", "101", 64.1466, -21.9426},
                            {"東京", "JP", "100-0001", 35.6762, 139.6503},
                            {"Montréal", "CA", "H2X 1Y4", 45.5017, -73.5673},
                            {"Seattle", "US", "98101", 47.6062, -122.3321},
                            {"Köln", "DE", "50667", 50.9375, 6.9603}};
constexpr const char* kStreets[] = {"Rue de l'Église", "Bahnhofstraße", "Main St.",
                                    "Avenida Paulista", "ul. Floriańska", "Laugavegur"};
constexpr const char* kTiers[] = {"bronze", "silver", "gold", "platinum"};
constexpr const char* kTags[] = {"vip", "eu", "newsletter", "b2b", "churn-risk", "mobile",
                                 "beta", "gdpr"};
// Notes filler: escapes (\" \n \\ \t \u00e9) and multi-byte UTF-8, as JSON text.
constexpr std::string_view kNoteChunks[] = {
    "He said \\\"call me back\\\" — then hung up.\\n",
    "Prefers e-mail; 日本語 OK ✓. ",
    "Path C:\\\\Users\\\\data\\tflag. ",
    "caf\\u00e9 au lait, naïve façade. ",
    "Delivery: leave at door (2nd floor). ",
    "Ticket #4471 escalated \\u2192 tier 2. "};

void appendf(std::string* out, const char* fmt, auto... args) {
  char buf[128];
  int n = std::snprintf(buf, sizeof(buf), fmt, args...);
  if (n > 0) out->append(buf, static_cast<size_t>(n) < sizeof(buf) ? n : sizeof(buf) - 1);
}

void appendKey(std::string* out, std::string_view key) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

void appendStr(std::string* out, std::string_view key, std::string_view value) {
  appendKey(out, key);
  out->push_back('"');
  out->append(value);  // callers pass JSON-ready text
  out->push_back('"');
}

// Value of protected-looking field number `i` for document `r`.
void appendProtected(std::string* out, int i, SplitMix64& r, uint64_t index) {
  switch (i) {
    case 0:
      appendf(out, "\"%03u-%02u-%04u\"", static_cast<unsigned>(100 + r.below(800)),
              static_cast<unsigned>(10 + r.below(90)), static_cast<unsigned>(r.below(10000)));
      return;
    case 1:
      appendf(out, "\"user%llu.%c%c@example-mail.com\"", static_cast<unsigned long long>(index),
              static_cast<char>('a' + r.below(26)), static_cast<char>('a' + r.below(26)));
      return;
    case 2:
      appendf(out, "\"4%03u %04u %04u %04u\"", static_cast<unsigned>(r.below(1000)),
              static_cast<unsigned>(r.below(10000)), static_cast<unsigned>(r.below(10000)),
              static_cast<unsigned>(r.below(10000)));
      return;
    case 3:
      appendf(out, "\"+1-%03u-%03u-%04u\"", static_cast<unsigned>(200 + r.below(700)),
              static_cast<unsigned>(r.below(1000)), static_cast<unsigned>(r.below(10000)));
      return;
    case 4:
      appendf(out, "\"%04u-%02u-%02u\"", static_cast<unsigned>(1940 + r.below(65)),
              static_cast<unsigned>(1 + r.below(12)), static_cast<unsigned>(1 + r.below(28)));
      return;
    case 5:
      appendf(out, "\"DE%02u %04u %04u %04u %04u %02u\"", static_cast<unsigned>(r.below(100)),
              static_cast<unsigned>(r.below(10000)), static_cast<unsigned>(r.below(10000)),
              static_cast<unsigned>(r.below(10000)), static_cast<unsigned>(r.below(10000)),
              static_cast<unsigned>(r.below(100)));
      return;
    case 6:
      appendf(out, "\"X%08u\"", static_cast<unsigned>(r.below(100000000)));
      return;
    case 7:
      appendf(out, "\"%02u-%07u\"", static_cast<unsigned>(r.below(100)),
              static_cast<unsigned>(r.below(10000000)));
      return;
    default:
      appendf(out, "\"s%016llx\"", static_cast<unsigned long long>(r.next()));
      return;
  }
}

}  // namespace

std::vector<std::string> DocumentGenerator::protectedFieldNames(int n) {
  static constexpr const char* kNames[] = {"ssn",         "email",          "creditCard",
                                           "phone",       "dateOfBirth",    "iban",
                                           "passportNumber", "taxId"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    if (i < 8) {
      out.emplace_back(kNames[i]);
    } else {
      out.push_back("secret" + std::to_string(i + 1));
    }
  }
  return out;
}

std::string DocumentGenerator::partitionKey(uint64_t index) const {
  char buf[32];
  const int parts = spec_.partitions > 0 ? spec_.partitions : 1;
  std::snprintf(buf, sizeof(buf), "p%02u", static_cast<unsigned>(index % parts));
  return buf;
}

std::string DocumentGenerator::make(uint64_t index, std::string_view id) const {
  SplitMix64 r(spec_.seed * 0x2545F4914F6CDD1DULL + index);
  std::string d;
  d.reserve(spec_.target_bytes + 256);
  d.push_back('{');
  appendStr(&d, "id", id);
  d.push_back(',');
  appendStr(&d, spec_.pk_field, partitionKey(index));
  d.append(",\"type\":\"customer\"");

  const std::vector<std::string> names = protectedFieldNames(spec_.protected_fields);
  for (int i = 0; i < static_cast<int>(names.size()); ++i) {
    d.push_back(',');
    appendKey(&d, names[i]);
    appendProtected(&d, i, r, index);
  }

  d.push_back(',');
  appendStr(&d, "firstName", kFirstNames[r.below(std::size(kFirstNames))]);
  d.push_back(',');
  appendStr(&d, "lastName", kLastNames[r.below(std::size(kLastNames))]);
  appendf(&d, ",\"age\":%u,\"active\":%s,\"score\":0.%04u,\"balance\":-%u.%02u,\"rank\":%ue3",
          static_cast<unsigned>(18 + r.below(70)), r.below(2) ? "true" : "false",
          static_cast<unsigned>(r.below(10000)), static_cast<unsigned>(r.below(5000)),
          static_cast<unsigned>(r.below(100)), static_cast<unsigned>(1 + r.below(9)));

  const City& c = kCities[r.below(std::size(kCities))];
  d.append(",\"address\":{");
  appendf(&d, "\"street\":\"%u %s\",", static_cast<unsigned>(1 + r.below(200)),
          kStreets[r.below(std::size(kStreets))]);
  appendStr(&d, "city", c.name);
  d.push_back(',');
  appendStr(&d, "zip", c.zip);
  d.push_back(',');
  appendStr(&d, "country", c.country);
  appendf(&d, ",\"geo\":{\"lat\":%.4f,\"lon\":%.4f}}", c.lat, c.lon);

  appendf(&d, ",\"loyalty\":{\"tier\":\"%s\",\"points\":%u,\"since\":\"20%02u-%02u-01\",",
          kTiers[r.below(std::size(kTiers))], static_cast<unsigned>(r.below(100000)),
          static_cast<unsigned>(r.below(24)), static_cast<unsigned>(1 + r.below(12)));
  d.append("\"optIn\":null}");

  d.append(",\"tags\":[");
  const uint64_t ntags = 1 + r.below(4);
  for (uint64_t t = 0; t < ntags; ++t) {
    if (t) d.push_back(',');
    d.push_back('"');
    d.append(kTags[r.below(std::size(kTags))]);
    d.push_back('"');
  }
  d.push_back(']');

  // Orders (arrays of objects) until the document is within ~120 bytes of the target.
  constexpr size_t kNotesOverhead = 12;  // ,"notes":"" + closing brace
  const size_t target = spec_.target_bytes;
  d.append(",\"orders\":[");
  bool first = true;
  for (int i = 0; i < 4096; ++i) {
    std::string o;
    appendf(&o, "{\"sku\":\"SKU-%04u\",\"qty\":%u,\"price\":%u.%02u,\"gift\":%s}",
            static_cast<unsigned>(r.below(10000)), static_cast<unsigned>(1 + r.below(5)),
            static_cast<unsigned>(1 + r.below(300)), static_cast<unsigned>(r.below(100)),
            r.below(4) == 0 ? "true" : "false");
    // Keep room for "]" and the notes field (at least 40 bytes of notes).
    if (!first && d.size() + o.size() + 2 + kNotesOverhead + 40 > target) break;
    if (!first) d.push_back(',');
    d.append(o);
    first = false;
    if (d.size() + kNotesOverhead + 160 > target) break;
  }
  d.push_back(']');

  // Notes: pad to the exact target with whole chunks, then ASCII letters (never cutting an
  // escape or a UTF-8 sequence in half).
  d.append(",\"notes\":\"\\\"ok\\\"\\n");  // always some escapes: \"ok\"\n
  const size_t close = 2;  // "}
  size_t k = r.below(std::size(kNoteChunks));
  while (true) {
    std::string_view chunk = kNoteChunks[k++ % std::size(kNoteChunks)];
    if (d.size() + chunk.size() + close > target) break;
    d.append(chunk);
  }
  while (d.size() + close < target) d.push_back(static_cast<char>('a' + r.below(26)));
  d.append("\"}");
  return d;
}

}  // namespace cosmoseal::bench
