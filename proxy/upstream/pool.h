#pragma once

// The pool now lives with the connection in connection.h (split follows).
#include "proxy/upstream/connection.h"
