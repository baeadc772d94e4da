#include "gateway/compose/json.hpp"
