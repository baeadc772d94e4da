// Tests for parse_http_date's strictness (base/http/serializer): the three
// formats of RFC 9110 5.6.7 exactly as their grammar spells them, and
// nothing else. A cache must take an invalid Expires as already expired
// (RFC 9111 5.3), so a date read leniently would keep a response fresh
// that should not be.
#include <doctest/doctest.h>

#include <ctime>
#include <string>
#include <vector>

#include "base/http/serializer.hpp"

using namespace gateway::http;

TEST_SUITE("http dates strictly") {

TEST_CASE("each format of RFC 9110 5.6.7, exactly as spelled, gives the same time") {
  const std::time_t t = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  for (const char* s : {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                        "Sun Nov 16 08:49:37 1994"}) {
    CAPTURE(s);
    const auto parsed = parse_http_date(s);
    REQUIRE(parsed.has_value());
    CHECK((*parsed - t) % 86400 == 0);  // the last one is ten days later
  }
  CHECK(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").has_value());  // a leap day
  CHECK(parse_http_date("Thu, 31 Dec 1998 23:59:60 GMT").has_value());  // a leap second
}

TEST_CASE("anything the grammar does not spell is invalid") {
  const std::vector<const char*> bad = {
      // IMF-fixdate, each field off by a character.
      "Sun, 06 Nov 1994 8:49:37 GMT",     // one-digit hour
      "Sun, 06 Nov 1994 08:9:37 GMT",     // one-digit minute
      "Sun, 06 Nov 1994 08:49:7 GMT",     // one-digit second
      "Sun, 6 Nov 1994 08:49:37 GMT",     // one-digit day
      "Sun, 06 Nov 94 08:49:37 GMT",      // two-digit year
      "Sun, 06 Nov 1994 08:49:37 PST",    // another zone
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 gmt",
      "Sun, 06 Nov 1994 08:49:37 +0000",
      "Sun, 06 Nov 1994 08:49:37",        // no zone
      "Sun, 06 Nov 1994 08:49:37 GMT ",   // trailing space (callers trim OWS first)
      "Sun, 06 Nov 1994 08:49:37 GMTX",
      "Sun,  06 Nov 1994 08:49:37 GMT",   // extra spaces
      "Sun, 06  Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov  1994 08:49:37 GMT",
      "Sun, 06 Nov 1994  08:49:37 GMT",
      "Sun,06 Nov 1994 08:49:37 GMT",     // missing space
      " Sun, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 nov 1994 08:49:37 GMT",    // names are case-sensitive
      "sun, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06 Nov 1994 08:49:37 GMT",  // long day name in IMF-fixdate
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",    // a day November does not have
      "Sun, 29 Feb 1900 08:49:37 GMT",    // not a leap year
      "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",  // two dates
      "Sun, 06 Nov 1994 08-49-37 GMT",
      // rfc850-date.
      "Sun, 06-Nov-94 08:49:37 GMT",      // short day name
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sunday, 6-Nov-94 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 EST",
      // asctime-date.
      "Sun Nov 6 08:49:37 1994",          // day needs its padding space
      "Sun Nov  6 08:49:37 94",
      "Sun Nov  6 08:49:37 1994 GMT",
      "Sun  Nov  6 08:49:37 1994",
      // Not dates.
      "",
      "0",
      "-1",
      "now",
  };
  for (const char* s : bad) {
    CAPTURE(std::string(s));
    CHECK_FALSE(parse_http_date(s).has_value());
  }
}

}  // TEST_SUITE
