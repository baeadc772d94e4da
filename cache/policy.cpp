#include "cache/policy.hpp"
