#include "cache/eviction.hpp"
