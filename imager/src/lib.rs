//! Make, verify and inspect gitfs images.
