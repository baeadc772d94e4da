#include "gateway/compose/template.hpp"
