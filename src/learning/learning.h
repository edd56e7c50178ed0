// The learning component's public API in one include: feature hashing,
// FTRL-Proximal online logistic regression, bandit exploration and
// off-policy estimation. See src/learning/README.md and docs/learning.md.
#pragma once

#include "learning/explore.h"
#include "learning/feature_hasher.h"
#include "learning/ftrl.h"
#include "learning/off_policy.h"
